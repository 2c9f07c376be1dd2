-- Month grains (usage_monthly_region, subscriber_month) of a load into months no other
-- load has records in (cubes.py decides): computed from the load's own records, which are
-- every record of those months. Runs after cubes_refresh.sql, in the same transaction.
--
-- Both grains are grouped from load_delta (cubes_refresh.sql: the load's records per
-- local month x region x msisdn with every summed measure, one scan, which here are all
-- the months' records), and a subscriber-month's active days come from load_days (this
-- load's distinct day x region x msisdn).
--
-- The helper month_subscriber_regions is left empty for these months: a later load into
-- one of them builds it once from the month's records (cubes_months_merge.sql), so the
-- DuckDB file (copied by every publish) does not carry a per-subscriber set it may never
-- need.

delete from month_subscriber_regions
where month_date in (select month_date from touched_region_months);

-- month grain: local month x region
delete from usage_monthly_region
where (month_date, region) in (select month_date, region from touched_region_months);

insert into usage_monthly_region by name
select
    month_date, region,
    sum(records) as records,
    count(*) as subscribers,
    coalesce(sum(charge), 0) as revenue,
    sum(voice_s) / 60.0 as voice_minutes,
    sum(sms) as sms,
    sum(data_bytes) / 1e9 as data_gb,
    sum(voice_s) as voice_s,
    sum(data_bytes) as data_bytes
from load_delta
group by all;

-- subscriber-month grain: local month x msisdn; regions and top region from the parts'
-- regions, active days from load_days; cubes.py writes them to the lake in place of the
-- stored rows of these keys (lake.replace_keys)
create or replace temp table sub_next as
with totals as (
    select
        month_date, msisdn,
        {include:cubes_subscriber_sums},
        count(*) as regions,
        arg_min(region, (-records, region)) as top_region  -- most records, then first by name
    from load_delta
    group by all
),
per_day as (
    select month_date, msisdn, count(distinct day_date) as active_days
    from (select cast(date_trunc('month', day_date) as date) as month_date, msisdn, day_date from load_days)
    group by all
)
select t.* exclude (regions, top_region), d.active_days, t.regions, t.top_region
from totals as t
join per_day as d using (month_date, msisdn);

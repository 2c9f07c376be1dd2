-- Month grains (usage_monthly_region, subscriber_month) of a load into months no other
-- load has records in (cubes.py decides): computed from the load's own records, which are
-- every record of those months. Runs after cubes_refresh.sql, in the same transaction.
--
-- The helper month_subscriber_regions is left empty for these months: a later load into
-- one of them builds it once from the month's records (cubes_months_merge.sql), so a bulk
-- load does not pay for a set it may never need.

delete from month_subscriber_regions
where month_date in (select month_date from touched_region_months);

-- month grain: local month x region
delete from usage_monthly_region
where (month_date, region) in (select month_date, region from touched_region_months);

insert into usage_monthly_region by name
with per_subscriber as (
    select
        m.month_date, m.region, m.msisdn,
        count(*) as records,
        sum(m.charge) as revenue,
        count(*) filter (where m.service in ('sms', 'mms')) as sms,
        coalesce(sum(m.duration_s) filter (where m.service = 'voice'), 0) as voice_s,
        coalesce(sum(m.bytes_up + m.bytes_down) filter (where m.service in ('data', 'voip', 'video')), 0) as data_bytes
    from month_records as m
    semi join touched_region_months as t on t.month_date = m.month_date and t.region = m.region
    group by all
)
select
    month_date, region,
    sum(records) as records,
    count(*) as subscribers,
    coalesce(sum(revenue), 0) as revenue,
    sum(voice_s) / 60.0 as voice_minutes,
    sum(sms) as sms,
    sum(data_bytes) / 1e9 as data_gb,
    sum(voice_s) as voice_s,
    sum(data_bytes) as data_bytes
from per_subscriber
group by all;

-- subscriber-month grain: local month x msisdn; regions and top region from a per-region
-- level, active days from a per-day level; cubes.py writes them to the lake in place of
-- the stored rows of these keys (lake.replace_keys)
create or replace temp table sub_next as
with scoped as (
    -- no other load has records in these months, so every row is touched
    select * from month_records
),
totals as (
    select
        month_date, msisdn,
        count(*) as records,
        coalesce(sum(duration_s) filter (where service = 'voice' and direction = 'out'), 0) as voice_out_s,
        coalesce(sum(duration_s) filter (where service = 'voice' and direction = 'in'), 0) as voice_in_s,
        count(*) filter (where service = 'voice' and direction = 'out') as voice_calls_out,
        count(*) filter (where service = 'voice' and direction = 'in') as voice_calls_in,
        count(*) filter (where service in ('sms', 'mms') and direction = 'out') as sms_out,
        count(*) filter (where service in ('sms', 'mms') and direction = 'in') as sms_in,
        coalesce(sum(bytes_up + bytes_down) filter (where service in ('data', 'voip', 'video')), 0) as data_bytes,
        coalesce(
            sum(duration_s) filter (where service = 'voice' and direction = 'out' and destination_country <> $home), 0
        ) as intl_voice_s,
        count(*) filter (where is_roaming) as roaming_records,
        coalesce(sum(charge), 0) as charge
    from scoped
    group by all
),
per_region as (
    select month_date, msisdn, region, count(*) as records
    from scoped
    group by all
),
regions as (
    select
        month_date, msisdn,
        count(*) as regions,
        arg_min(region, (-records, region)) as top_region  -- most records, then first by name
    from per_region
    group by all
),
per_day as (
    select month_date, msisdn, count(*) as active_days
    from (select distinct month_date, msisdn, day_date from scoped)
    group by all
)
select s.*, d.active_days, r.regions, r.top_region
from totals as s
join regions as r using (month_date, msisdn)
join per_day as d using (month_date, msisdn);

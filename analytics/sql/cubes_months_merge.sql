-- Month grains (usage_monthly_region, subscriber_month) of a load into months that other
-- loads have records in already (a daily extract, a late file): the touched rows become
-- their stored values plus this load's, so a new day costs its own records, not a rescan
-- of its month. Runs after cubes_refresh.sql, in the same transaction, with its temp
-- tables (zone_quarters, load_days, touched_*); the month_records view is made here.
--
-- Sums add up. Three measures do not, and stay exact this way:
--   * distinct subscribers of a region-month, and a subscriber-month's regions and top
--     region: from the helper month_subscriber_regions (records per local month x msisdn
--     x region). A month without helper rows (filled by a fresh load, or by an older
--     version) gets them built once from all its records, this load's included;
--   * a subscriber-month's active days: the old count plus this load's local days on
--     which no other load has a record of that subscriber (a scan of those days only).

-- load_delta (this load's records per local month x msisdn x region, every summed
-- measure) comes from cubes_refresh.sql.

-- the records of the touched local months, with their local day (a view takes no
-- parameters: the span comes from zone_quarters)
create or replace temp view month_records as
select
    z.day_date, cast(date_trunc('month', z.day_date) as date) as month_date,
    r.msisdn, r.region, r.service, r.direction, r.duration_s, r.bytes_up, r.bytes_down, r.charge, r.is_roaming,
    r.destination_country
from records as r
join zone_quarters as z on z.quarter_at = time_bucket(interval 15 minutes, r.start_at)
where r.start_at >= (select min(quarter_at) from zone_quarters)
  and r.start_at <= (select max(quarter_at) from zone_quarters)
  and cast(date_trunc('month', z.day_date) as date) in (select month_date from touched_region_months);

-- helper: months that have it get this load's counts added; the others are built from
-- every stored record of the month, which already includes this load's
create or replace temp table helper_ready as
select distinct month_date
from month_subscriber_regions
where month_date in (select month_date from touched_region_months);

create or replace temp table helper_rows as
select month_date, msisdn, region, sum(records) as records
from (
    select h.month_date, h.msisdn, h.region, h.records
    from month_subscriber_regions as h
    semi join touched_sub_months as t on t.month_date = h.month_date and t.msisdn = h.msisdn
    where h.month_date in (select month_date from helper_ready)
    union all
    select month_date, msisdn, region, records
    from load_delta
    where month_date in (select month_date from helper_ready)
    union all
    select month_date, msisdn, region, count(*) as records
    from month_records
    where month_date not in (select month_date from helper_ready)
    group by all
)
group by all;

delete from month_subscriber_regions
where (month_date, msisdn) in (select month_date, msisdn from helper_rows);

insert into month_subscriber_regions by name
select month_date, msisdn, region, records from helper_rows;

-- month grain: local month x region, stored values plus this load's; subscribers from
-- the helper
create or replace temp table monthly_next as
with delta as (
    select
        month_date, region,
        sum(records) as records,
        coalesce(sum(charge), 0) as revenue,
        sum(sms) as sms,
        sum(voice_s) as voice_s,
        sum(data_bytes) as data_bytes
    from load_delta
    group by all
),
subscribers as (
    select h.month_date, h.region, count(*) as subscribers
    from month_subscriber_regions as h
    semi join touched_region_months as t on t.month_date = h.month_date and t.region = h.region
    group by all
)
select
    d.month_date,
    d.region,
    coalesce(o.records, 0) + d.records as records,
    s.subscribers,
    coalesce(o.revenue, 0) + d.revenue as revenue,
    (coalesce(o.voice_s, 0) + d.voice_s) / 60.0 as voice_minutes,
    coalesce(o.sms, 0) + d.sms as sms,
    (coalesce(o.data_bytes, 0) + d.data_bytes) / 1e9 as data_gb,
    coalesce(o.voice_s, 0) + d.voice_s as voice_s,
    coalesce(o.data_bytes, 0) + d.data_bytes as data_bytes
from delta as d
join subscribers as s using (month_date, region)
left join usage_monthly_region as o using (month_date, region);

delete from usage_monthly_region
where (month_date, region) in (select month_date, region from touched_region_months);

insert into usage_monthly_region by name
select * from monthly_next;

-- subscriber-month grain: local month x msisdn, stored values plus this load's
create or replace temp table sub_next as
with delta as (
    select
        month_date, msisdn,
        {include:cubes_subscriber_sums}
    from load_delta
    group by all
),
other_days as (
    -- subscribers with a record of another load on one of this load's local days
    select distinct z.day_date, r.msisdn
    from near_records as r
    join zone_quarters as z on z.quarter_at = time_bucket(interval 15 minutes, r.start_at)
    where r.start_at >= cast($lo as timestamp) - interval 2 days
      and r.start_at < cast($hi as timestamp) + interval 2 days
      and r.load_id not between $load_id and $last_load_id
      and z.day_date in (select day_date from load_days)
),
new_days as (
    select cast(date_trunc('month', n.day_date) as date) as month_date, n.msisdn, count(*) as days
    from (select distinct day_date, msisdn from load_days) as n
    anti join other_days as o on o.day_date = n.day_date and o.msisdn = n.msisdn
    group by all
),
regions as (
    select
        h.month_date, h.msisdn,
        count(*) as regions,
        arg_min(h.region, (-h.records, h.region)) as top_region  -- most records, then first by name
    from month_subscriber_regions as h
    semi join touched_sub_months as t on t.month_date = h.month_date and t.msisdn = h.msisdn
    group by all
)
select
    d.month_date,
    d.msisdn,
    coalesce(o.records, 0) + d.records as records,
    coalesce(o.active_days, 0) + coalesce(n.days, 0) as active_days,
    coalesce(o.voice_out_s, 0) + d.voice_out_s as voice_out_s,
    coalesce(o.voice_in_s, 0) + d.voice_in_s as voice_in_s,
    coalesce(o.voice_calls_out, 0) + d.voice_calls_out as voice_calls_out,
    coalesce(o.voice_calls_in, 0) + d.voice_calls_in as voice_calls_in,
    coalesce(o.sms_out, 0) + d.sms_out as sms_out,
    coalesce(o.sms_in, 0) + d.sms_in as sms_in,
    coalesce(o.data_bytes, 0) + d.data_bytes as data_bytes,
    coalesce(o.intl_voice_s, 0) + d.intl_voice_s as intl_voice_s,
    coalesce(o.roaming_records, 0) + d.roaming_records as roaming_records,
    coalesce(o.charge, 0) + d.charge as charge,
    r.regions,
    r.top_region
from delta as d
join regions as r using (month_date, msisdn)
left join subscriber_month as o using (month_date, msisdn)
left join new_days as n using (month_date, msisdn);

-- cubes.py writes sub_next to the lake in place of the stored rows of these keys

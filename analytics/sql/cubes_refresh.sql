-- Month grains of the usage cubes, merged additively from `new_rollup` (the new rows at
-- local day x region x msisdn x service x direction, a registered frame computed by
-- analytics/ingest/cubes.py, which also refreshes the hour and day cubes). Runs inside
-- the load's transaction. Distinct counts stay exact through the helper sets
-- subscriber_region_month and subscriber_day, so a new day never rescans its month.

-- helper sets
insert into subscriber_day
select distinct n.day_date, n.msisdn
from new_rollup as n
anti join subscriber_day as d on d.day_date = n.day_date and d.msisdn = n.msisdn;

create or replace temp table new_srm as
select cast(date_trunc('month', day_date) as date) as month_date, region, msisdn, sum(records) as records
from new_rollup
group by all;

create or replace temp table merged_srm as
with old as (
    select s.*
    from subscriber_region_month as s
    semi join new_srm as n on s.month_date = n.month_date and s.region = n.region and s.msisdn = n.msisdn
),
final as (
    select month_date, region, msisdn, sum(records) as records
    from (select * from old union all select * from new_srm)
    group by all
)
select * from final;

delete from subscriber_region_month
where (month_date, region, msisdn) in (select month_date, region, msisdn from new_srm);

insert into subscriber_region_month by name select * from merged_srm;

-- monthly region cube: additive merge; subscribers from the helper set
create or replace temp table touched_region_months as
select distinct month_date, region from new_srm;

create or replace temp table merged_region_month as
with new_sums as (
    select
        cast(date_trunc('month', day_date) as date) as month_date,
        region,
        sum(records) as records,
        sum(charge) as revenue,
        coalesce(sum(records) filter (where service in ('sms', 'mms')), 0) as sms,
        coalesce(sum(duration_s) filter (where service = 'voice'), 0) as voice_s,
        coalesce(sum(bytes_up + bytes_down) filter (where service in ('data', 'voip', 'video')), 0) as data_bytes
    from new_rollup
    group by all
),
old_sums as (
    select u.month_date, u.region, u.records, u.revenue, u.sms, u.voice_s, u.data_bytes
    from usage_monthly_region as u
    semi join touched_region_months as t on u.month_date = t.month_date and u.region = t.region
),
subs as (
    select s.month_date, s.region, count(*) as subscribers
    from subscriber_region_month as s
    semi join touched_region_months as t on s.month_date = t.month_date and s.region = t.region
    group by all
),
final as (
    select
        a.month_date,
        a.region,
        sum(a.records) as records,
        any_value(subs.subscribers) as subscribers,
        sum(a.revenue) as revenue,
        sum(a.voice_s) / 60.0 as voice_minutes,
        sum(a.sms) as sms,
        sum(a.data_bytes) / 1e9 as data_gb,
        sum(a.voice_s) as voice_s,
        sum(a.data_bytes) as data_bytes
    from (select * from old_sums union all select * from new_sums) as a
    join subs using (month_date, region)
    group by a.month_date, a.region
)
select * from final;

delete from usage_monthly_region
where (month_date, region) in (select month_date, region from touched_region_months);

insert into usage_monthly_region by name select * from merged_region_month;

-- subscriber-month cube: additive merge; active days, regions and top region from the sets
create or replace temp table touched_sub_months as
select distinct month_date, msisdn from new_srm;

create or replace temp table merged_sub_month as
with new_sums as (
    select
        cast(date_trunc('month', day_date) as date) as month_date,
        msisdn,
        sum(records) as records,
        coalesce(sum(duration_s) filter (where service = 'voice' and direction = 'out'), 0) as voice_out_s,
        coalesce(sum(duration_s) filter (where service = 'voice' and direction = 'in'), 0) as voice_in_s,
        coalesce(sum(records) filter (where service = 'voice' and direction = 'out'), 0) as voice_calls_out,
        coalesce(sum(records) filter (where service = 'voice' and direction = 'in'), 0) as voice_calls_in,
        coalesce(sum(records) filter (where service in ('sms', 'mms') and direction = 'out'), 0) as sms_out,
        coalesce(sum(records) filter (where service in ('sms', 'mms') and direction = 'in'), 0) as sms_in,
        coalesce(sum(bytes_up + bytes_down) filter (where service in ('data', 'voip', 'video')), 0) as data_bytes,
        coalesce(sum(intl_s) filter (where service = 'voice' and direction = 'out'), 0) as intl_voice_s,
        sum(roaming_records) as roaming_records,
        sum(charge) as charge
    from new_rollup
    group by all
),
old_sums as (
    select
        u.month_date, u.msisdn, u.records, u.voice_out_s, u.voice_in_s, u.voice_calls_out, u.voice_calls_in,
        u.sms_out, u.sms_in, u.data_bytes, u.intl_voice_s, u.roaming_records, u.charge
    from subscriber_month as u
    semi join touched_sub_months as t on u.month_date = t.month_date and u.msisdn = t.msisdn
),
days as (
    select cast(date_trunc('month', d.day_date) as date) as month_date, d.msisdn, count(*) as active_days
    from subscriber_day as d
    semi join touched_sub_months as t
        on cast(date_trunc('month', d.day_date) as date) = t.month_date and d.msisdn = t.msisdn
    group by all
),
regions as (
    select s.month_date, s.msisdn, count(*) as regions, first(s.region order by s.records desc, s.region) as top_region
    from subscriber_region_month as s
    semi join touched_sub_months as t on s.month_date = t.month_date and s.msisdn = t.msisdn
    group by all
),
summed as (
    select
        month_date, msisdn,
        sum(records) as records,
        sum(voice_out_s) as voice_out_s,
        sum(voice_in_s) as voice_in_s,
        sum(voice_calls_out) as voice_calls_out,
        sum(voice_calls_in) as voice_calls_in,
        sum(sms_out) as sms_out,
        sum(sms_in) as sms_in,
        sum(data_bytes) as data_bytes,
        sum(intl_voice_s) as intl_voice_s,
        sum(roaming_records) as roaming_records,
        sum(charge) as charge
    from (select * from old_sums union all select * from new_sums)
    group by all
),
final as (
    select s.*, d.active_days, r.regions, r.top_region
    from summed as s
    join days as d using (month_date, msisdn)
    join regions as r using (month_date, msisdn)
)
select * from final;

delete from subscriber_month
where (month_date, msisdn) in (select month_date, msisdn from touched_sub_months);

insert into subscriber_month by name select * from merged_sub_month;

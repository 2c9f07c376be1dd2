-- Incremental refresh of the usage cubes for the keys touched by `new_records` (the rows
-- this load inserts; a registered frame). Runs inside the load's transaction.
-- Template slots filled in code (never from user input):
--   {local}       a record's local wall-clock time in settings.timezone ($tz parameter)
--   {hour_scope}  `records`, or `new_records` when no earlier record shares a touched hour
--   {month_scope} `records`, or `new_records` when no earlier record shares a touched month

-- hourly cell cube: UTC hour x cell x service x direction
create or replace temp table touched_hours as
select distinct date_trunc('hour', start_at) as hour_at from new_records;

delete from usage_hourly_cell where hour_at in (select hour_at from touched_hours);

insert into usage_hourly_cell
with scoped as (
    select r.*
    from {hour_scope} as r
    where r.start_at >= (select min(hour_at) from touched_hours)
      and r.start_at < (select max(hour_at) from touched_hours) + interval 1 hour
      and date_trunc('hour', r.start_at) in (select hour_at from touched_hours)
),
final as (
    select
        date_trunc('hour', start_at) as hour_at,
        region,
        coalesce(cell_id, '') as cell_id,
        service,
        direction,
        count(*) as records,
        count(distinct msisdn) as subscribers,
        sum(duration_s) as duration_s,
        sum(bytes_up) as bytes_up,
        sum(bytes_down) as bytes_down,
        coalesce(sum(charge), 0) as charge,
        count(*) filter (where disposition = 'answered') as answered,
        count(*) filter (where disposition = 'no_answer') as no_answer,
        count(*) filter (where disposition = 'busy') as busy,
        count(*) filter (where disposition = 'failed') as failed,
        count(*) filter (where disposition = 'dropped') as dropped
    from scoped
    group by all
)
select * from final;

-- local days and months touched, per region and per subscriber
create or replace temp table touched_local as
select distinct
    cast({local} as date) as day_date,
    region,
    msisdn
from new_records;

-- one row per local day x region x msisdn x service of the touched months: the common
-- first step of the daily, monthly and subscriber-month cubes
create or replace temp table day_rollup as
with bounds as (
    select
        cast(date_trunc('month', min(day_date)) as date) as lo,
        cast(date_trunc('month', max(day_date)) as date) as hi
    from touched_local
),
scoped as (
    select r.*, cast({local} as date) as day_date
    from {month_scope} as r, bounds
    -- a month in any zone lies within [month - 1 day, next month + 1 day] in UTC
    where r.start_at >= bounds.lo - interval 1 day
      and r.start_at < bounds.hi + interval 1 month + interval 1 day
),
final as (
    select
        day_date,
        cast(date_trunc('month', day_date) as date) as month_date,
        region,
        msisdn,
        service,
        direction,
        count(*) as records,
        sum(duration_s) as duration_s,
        sum(bytes_up) as bytes_up,
        sum(bytes_down) as bytes_down,
        coalesce(sum(charge), 0) as charge,
        sum(duration_s) filter (where destination_country <> $home) as intl_s,
        count(*) filter (where is_roaming) as roaming_records
    from scoped
    where cast(date_trunc('month', day_date) as date) between (select lo from bounds) and (select hi from bounds)
    group by all
)
select * from final;

delete from usage_daily_region
where (day_date, region) in (select distinct day_date, region from touched_local);

insert into usage_daily_region
with final as (
    select
        d.day_date,
        d.region,
        d.service,
        sum(d.records) as records,
        count(distinct d.msisdn) as subscribers,
        sum(d.duration_s) as duration_s,
        sum(d.bytes_up) as bytes_up,
        sum(d.bytes_down) as bytes_down,
        sum(d.charge) as charge
    from day_rollup as d
    semi join (select distinct day_date, region from touched_local) as t
        on d.day_date = t.day_date and d.region = t.region
    group by all
)
select * from final;

create or replace temp table touched_months as
select distinct cast(date_trunc('month', day_date) as date) as month_date, region, msisdn from touched_local;

delete from usage_monthly_region
where (month_date, region) in (select distinct month_date, region from touched_months);

insert into usage_monthly_region
with final as (
    select
        d.month_date,
        d.region,
        sum(d.records) as records,
        count(distinct d.msisdn) as subscribers,
        sum(d.charge) as revenue,
        coalesce(sum(d.duration_s) filter (where d.service = 'voice') / 60.0, 0) as voice_minutes,
        coalesce(sum(d.records) filter (where d.service in ('sms', 'mms')), 0) as sms,
        coalesce(sum(d.bytes_up + d.bytes_down) filter (where d.service in ('data', 'voip', 'video')) / 1e9, 0) as data_gb
    from day_rollup as d
    semi join (select distinct month_date, region from touched_months) as t
        on d.month_date = t.month_date and d.region = t.region
    group by all
)
select * from final;

delete from subscriber_month
where (month_date, msisdn) in (select distinct month_date, msisdn from touched_months);

insert into subscriber_month
with scoped as (
    select d.*
    from day_rollup as d
    semi join (select distinct month_date, msisdn from touched_months) as t
        on d.month_date = t.month_date and d.msisdn = t.msisdn
),
by_region as (
    select month_date, msisdn, region, sum(records) as n
    from scoped
    group by all
),
top_region as (
    select month_date, msisdn, first(region order by n desc, region) as top_region, count(*) as regions
    from by_region
    group by all
),
final as (
    select
        s.month_date,
        s.msisdn,
        sum(s.records) as records,
        count(distinct s.day_date) as active_days,
        coalesce(sum(s.duration_s) filter (where s.service = 'voice' and s.direction = 'out'), 0) as voice_out_s,
        coalesce(sum(s.duration_s) filter (where s.service = 'voice' and s.direction = 'in'), 0) as voice_in_s,
        coalesce(sum(s.records) filter (where s.service = 'voice' and s.direction = 'out'), 0) as voice_calls_out,
        coalesce(sum(s.records) filter (where s.service = 'voice' and s.direction = 'in'), 0) as voice_calls_in,
        coalesce(sum(s.records) filter (where s.service in ('sms', 'mms') and s.direction = 'out'), 0) as sms_out,
        coalesce(sum(s.records) filter (where s.service in ('sms', 'mms') and s.direction = 'in'), 0) as sms_in,
        coalesce(sum(s.bytes_up + s.bytes_down) filter (where s.service in ('data', 'voip', 'video')), 0) as data_bytes,
        coalesce(sum(s.intl_s) filter (where s.service = 'voice' and s.direction = 'out'), 0) as intl_voice_s,
        sum(s.roaming_records) as roaming_records,
        sum(s.charge) as charge,
        any_value(t.regions) as regions,
        any_value(t.top_region) as top_region
    from scoped as s
    join top_region as t on t.month_date = s.month_date and t.msisdn = s.msisdn
    group by s.month_date, s.msisdn
)
select * from final;

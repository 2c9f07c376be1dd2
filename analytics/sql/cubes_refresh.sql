-- Incremental refresh of the usage cubes for the keys touched by the rows in temp table
-- `new_records` (the records this load inserted). Runs inside the load's transaction.
-- {local} is the expression for a record's local wall-clock time (settings.timezone);
-- it is a fixed template chosen in code, the zone itself is the parameter $tz.

-- hourly cell cube: UTC hour x cell x service x direction
create or replace temp table touched_hours as
select distinct date_trunc('hour', start_at) as hour_at from new_records;

delete from usage_hourly_cell where hour_at in (select hour_at from touched_hours);

insert into usage_hourly_cell
with scoped as (
    select r.*
    from records as r
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

-- local days and months touched (per region / per subscriber)
create or replace temp table touched_local as
select distinct
    cast({local} as date) as day_date,
    cast(date_trunc('month', {local}) as date) as month_date,
    region,
    msisdn
from new_records;

create or replace temp table scoped_local as
with bounds as (
    select min(month_date) as lo, max(month_date) as hi from touched_local
),
final as (
    select
        r.*,
        cast({local} as date) as day_date,
        cast(date_trunc('month', {local}) as date) as month_date
    from records as r, bounds
    -- a month in any zone lies within [month - 1 day, next month + 1 day] in UTC
    where r.start_at >= bounds.lo - interval 1 day
      and r.start_at < bounds.hi + interval 1 month + interval 1 day
)
select * from final;

delete from usage_daily_region
where (day_date, region) in (select distinct day_date, region from touched_local);

insert into usage_daily_region
with final as (
    select
        s.day_date,
        s.region,
        s.service,
        count(*) as records,
        count(distinct s.msisdn) as subscribers,
        sum(s.duration_s) as duration_s,
        sum(s.bytes_up) as bytes_up,
        sum(s.bytes_down) as bytes_down,
        coalesce(sum(s.charge), 0) as charge
    from scoped_local as s
    semi join (select distinct day_date, region from touched_local) as t
        on s.day_date = t.day_date and s.region = t.region
    group by all
)
select * from final;

delete from usage_monthly_region
where (month_date, region) in (select distinct month_date, region from touched_local);

insert into usage_monthly_region
with final as (
    select
        s.month_date,
        s.region,
        count(*) as records,
        count(distinct s.msisdn) as subscribers,
        coalesce(sum(s.charge), 0) as revenue,
        coalesce(sum(s.duration_s) filter (where s.service = 'voice') / 60.0, 0) as voice_minutes,
        count(*) filter (where s.service in ('sms', 'mms')) as sms,
        coalesce(sum(s.bytes_up + s.bytes_down) filter (where s.service in ('data', 'voip', 'video')) / 1e9, 0) as data_gb
    from scoped_local as s
    semi join (select distinct month_date, region from touched_local) as t
        on s.month_date = t.month_date and s.region = t.region
    group by all
)
select * from final;

delete from subscriber_month
where (month_date, msisdn) in (select distinct month_date, msisdn from touched_local);

insert into subscriber_month
with touched as (
    select distinct month_date, msisdn from touched_local
),
scoped as (
    select s.*
    from scoped_local as s
    semi join touched as t on s.month_date = t.month_date and s.msisdn = t.msisdn
),
region_counts as (
    select month_date, msisdn, region, count(*) as n
    from scoped
    group by month_date, msisdn, region
),
region_rank as (
    select *, row_number() over (partition by month_date, msisdn order by n desc, region) as rn
    from region_counts
),
final as (
    select
        s.month_date,
        s.msisdn,
        count(*) as records,
        count(distinct s.day_date) as active_days,
        coalesce(sum(s.duration_s) filter (where s.service = 'voice' and s.direction = 'out'), 0) as voice_out_s,
        coalesce(sum(s.duration_s) filter (where s.service = 'voice' and s.direction = 'in'), 0) as voice_in_s,
        count(*) filter (where s.service = 'voice' and s.direction = 'out') as voice_calls_out,
        count(*) filter (where s.service = 'voice' and s.direction = 'in') as voice_calls_in,
        count(*) filter (where s.service in ('sms', 'mms') and s.direction = 'out') as sms_out,
        count(*) filter (where s.service in ('sms', 'mms') and s.direction = 'in') as sms_in,
        coalesce(sum(s.bytes_up + s.bytes_down) filter (where s.service in ('data', 'voip', 'video')), 0) as data_bytes,
        coalesce(sum(s.duration_s) filter (
            where s.service = 'voice' and s.direction = 'out' and s.destination_country <> $home
        ), 0) as intl_voice_s,
        count(*) filter (where s.is_roaming) as roaming_records,
        coalesce(sum(s.charge), 0) as charge,
        count(distinct s.region) as regions,
        any_value(rr.region) as top_region
    from scoped as s
    left join region_rank as rr
        on rr.month_date = s.month_date and rr.msisdn = s.msisdn and rr.rn = 1
    group by s.month_date, s.msisdn
)
select * from final;

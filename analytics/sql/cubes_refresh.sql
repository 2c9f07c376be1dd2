-- Refresh of every usage cube for the keys one load touched, inside the load's
-- transaction, after its records (de-duplicated) are in `records`. This script computes
-- the load's aggregates in SQL: load_hours, load_days, hourly_next, daily_next and
-- load_delta (a one-machine load into fresh months computes the same tables in Polars
-- from its rows in memory, analytics/ingest/cube_frames.py); cubes_touched.sql then
-- derives the touched keys and writes the day grain, and the month grains follow in
-- cubes_months_fresh.sql or cubes_months_merge.sql (cubes.py picks one).
--
-- Parameters: $load_id and $last_load_id (the same id, or the range of a cluster run's
-- loads, refreshed together as one load); $lo and $hi, the load's first and last start_at
-- (UTC); $span_lo and $span_hi, UTC bounds around every local month the load can touch; $tz, the business
-- time zone of local days and months; $home, the home country. Whether other loads have
-- records in that span (fresh or not) picks the month script in cubes.py.
--
-- `near_records` (a temp view cubes.py makes) is `records` narrowed to the files whose
-- time bounds meet [$lo - 2 days, $hi + 2 days]: all a touched hour or day can hold; on
-- the fresh path of a load that holds its rows in memory, those rows themselves.
-- `load_records` is the load's own rows (the in-memory frame of a one-machine load, else
-- `records`, filtered here by load_id).
--
-- Every touched hour and day key is recomputed from all stored records of that key (the
-- new ones and any earlier load's), so its exact distinct subscriber count needs no
-- helper set: a bulk load scans only its own rows, and a load into hours or days that
-- have data already rescans those hours or days, never a month. Distinct subscribers are
-- counted in two levels (group by key and msisdn, then count the groups), which DuckDB
-- runs several times faster than count(distinct msisdn).

-- Local calendar day of each UTC quarter hour over the months the load can touch (every
-- zone's offset is a whole number of quarter hours): a join on this small table is far
-- cheaper than converting ten million timestamps with ICU.
create or replace temp table zone_quarters as
select q as quarter_at, cast(timezone($tz, timezone('UTC', q)) as date) as day_date
from range(cast($span_lo as timestamp), cast($span_hi as timestamp), interval 15 minutes) as t(q);

create or replace temp table load_hours as
select distinct date_trunc('hour', start_at) as hour_at
from load_records
where load_id between $load_id and $last_load_id;

create or replace temp table load_days as
select distinct z.day_date, r.region, r.msisdn
from load_records as r
join zone_quarters as z on z.quarter_at = time_bucket(interval 15 minutes, r.start_at)
where r.load_id between $load_id and $last_load_id;

-- hour grain: UTC hour x region x cell x service x direction; the rows of the touched
-- hours, which cubes.py writes to the lake in place of the stored ones (lake.replace_keys)
create or replace temp table hourly_next as
with per_subscriber as (
    select
        date_trunc('hour', start_at) as hour_at,
        region,
        coalesce(cell_id, '') as cell_id,
        service,
        direction,
        msisdn,
        count(*) as records,
        sum(duration_s) as duration_s,
        sum(bytes_up) as bytes_up,
        sum(bytes_down) as bytes_down,
        sum(charge) as charge,
        count(*) filter (where disposition = 'answered') as answered,
        count(*) filter (where disposition = 'no_answer') as no_answer,
        count(*) filter (where disposition = 'busy') as busy,
        count(*) filter (where disposition = 'failed') as failed,
        count(*) filter (where disposition = 'dropped') as dropped
    from near_records
    where start_at >= date_trunc('hour', cast($lo as timestamp))
      and start_at < date_trunc('hour', cast($hi as timestamp)) + interval 1 hour
      and date_trunc('hour', start_at) in (select hour_at from load_hours)
    group by all
)
select
    hour_at, region, cell_id, service, direction,
    sum(records) as records,
    count(*) as subscribers,
    sum(duration_s) as duration_s,
    sum(bytes_up) as bytes_up,
    sum(bytes_down) as bytes_down,
    coalesce(sum(charge), 0) as charge,
    sum(answered) as answered,
    sum(no_answer) as no_answer,
    sum(busy) as busy,
    sum(failed) as failed,
    sum(dropped) as dropped
from per_subscriber
group by all;

-- day grain: local day x region x service; the rows of the touched days, which
-- cubes_touched.sql puts in place of the stored ones
create or replace temp table daily_next as
with per_subscriber as (
    select
        z.day_date, r.region, r.service, r.msisdn,
        count(*) as records,
        sum(r.duration_s) as duration_s,
        sum(r.bytes_up) as bytes_up,
        sum(r.bytes_down) as bytes_down,
        sum(r.charge) as charge
    from near_records as r
    join zone_quarters as z on z.quarter_at = time_bucket(interval 15 minutes, r.start_at)
    semi join (select distinct day_date, region from load_days) as t on t.day_date = z.day_date and t.region = r.region
    where r.start_at >= cast($lo as timestamp) - interval 2 days
      and r.start_at < cast($hi as timestamp) + interval 2 days
    group by all
)
select
    day_date, region, service,
    sum(records) as records,
    count(*) as subscribers,
    sum(duration_s) as duration_s,
    sum(bytes_up) as bytes_up,
    sum(bytes_down) as bytes_down,
    coalesce(sum(charge), 0) as charge
from per_subscriber
group by all;

-- this load's records per local month x msisdn x region, with every summed measure: the
-- month grains' input (cubes_months_fresh.sql, cubes_months_merge.sql)
create or replace temp table load_delta as
select
    cast(date_trunc('month', z.day_date) as date) as month_date,
    r.msisdn,
    r.region,
    count(*) as records,
    sum(r.charge) as charge,
    count(*) filter (where r.service in ('sms', 'mms')) as sms,
    coalesce(sum(r.duration_s) filter (where r.service = 'voice'), 0) as voice_s,
    coalesce(sum(r.bytes_up + r.bytes_down) filter (where r.service in ('data', 'voip', 'video')), 0) as data_bytes,
    coalesce(sum(r.duration_s) filter (where r.service = 'voice' and r.direction = 'out'), 0) as voice_out_s,
    coalesce(sum(r.duration_s) filter (where r.service = 'voice' and r.direction = 'in'), 0) as voice_in_s,
    count(*) filter (where r.service = 'voice' and r.direction = 'out') as voice_calls_out,
    count(*) filter (where r.service = 'voice' and r.direction = 'in') as voice_calls_in,
    count(*) filter (where r.service in ('sms', 'mms') and r.direction = 'out') as sms_out,
    count(*) filter (where r.service in ('sms', 'mms') and r.direction = 'in') as sms_in,
    coalesce(
        sum(r.duration_s) filter (where r.service = 'voice' and r.direction = 'out' and r.destination_country <> $home), 0
    ) as intl_voice_s,
    count(*) filter (where r.is_roaming) as roaming_records
from load_records as r
join zone_quarters as z on z.quarter_at = time_bucket(interval 15 minutes, r.start_at)
where r.load_id between $load_id and $last_load_id
group by all;

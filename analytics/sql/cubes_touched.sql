-- The keys a load touched and its day grain, after its aggregates exist as temp tables
-- (load_hours, load_days, hourly_next, daily_next, load_delta: from cubes_refresh.sql, or
-- from the load's rows in memory, analytics/ingest/cube_frames.py). Same transaction;
-- the month grains follow (cubes_months_fresh.sql or cubes_months_merge.sql).

create or replace temp table touched_days as
select distinct day_date, region from load_days;

create or replace temp table touched_region_months as
select distinct cast(date_trunc('month', day_date) as date) as month_date, region from load_days;

create or replace temp table touched_sub_months as
select distinct cast(date_trunc('month', day_date) as date) as month_date, msisdn from load_days;

-- day grain: local day x region x service, the touched days' rows replaced
delete from usage_daily_region where (day_date, region) in (select day_date, region from touched_days);

insert into usage_daily_region by name
select day_date, region, service, records, subscribers, duration_s, bytes_up, bytes_down, charge
from daily_next;

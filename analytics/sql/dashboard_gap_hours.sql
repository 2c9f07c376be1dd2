-- Coverage gaps: one row per run of consecutive hours in which a region has no records,
-- within the range clipped to the hours the warehouse covers at all. Times are local.
with params as (
    select ($start::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           (($end::date + 1)::timestamp at time zone $tz) at time zone 'UTC' as end_at,
           $regions::varchar[] as regions
),
covered as (
    select greatest(p.start_at, min(u.hour_at)) as first_at,
           least(p.end_at - interval 1 hour, max(u.hour_at)) as last_at
    from usage_hourly_cell u, params p
    group by p.start_at, p.end_at
),
region_list as (
    select distinct region from usage_hourly_cell, params p
    where region <> 'ROAMING' and (len(p.regions) = 0 or list_contains(p.regions, region))
),
hours as (
    select unnest(generate_series(first_at, last_at, interval 1 hour)) as hour_at from covered
    where first_at <= last_at
),
active as (
    select distinct u.region, u.hour_at
    from usage_hourly_cell u, covered c
    where u.hour_at between c.first_at and c.last_at and u.records > 0
),
missing as (
    select r.region, h.hour_at
    from region_list r cross join hours h
    anti join active a on a.region = r.region and a.hour_at = h.hour_at
),
runs as (
    select region, hour_at,
           hour_at - to_hours(row_number() over (partition by region order by hour_at)) as run_key
    from missing
),
final as (
    select region,
           (min(hour_at) at time zone 'UTC') at time zone $tz as gap_start,
           ((max(hour_at) + interval 1 hour) at time zone 'UTC') at time zone $tz as gap_end,
           count(*)::bigint as hours
    from runs
    group by region, run_key
    order by hours desc, region, gap_start
)
select * from final

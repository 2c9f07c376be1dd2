-- Busy hour per region: one row per region, the local hour of day with the highest
-- average carried traffic (erlangs = connected seconds / 3600 of voice, voip and video)
-- averaged over the $days days of the range (time-consistent busy hour).
with params as (
    select ($start::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           (($end::date + 1)::timestamp at time zone $tz) at time zone 'UTC' as end_at,
           $regions::varchar[] as regions
),
hourly as (
    -- summed per UTC hour first: the zone conversion then runs on a few thousand rows
    select u.region, u.hour_at, sum(u.duration_s) as duration_s, sum(u.records) as records
    from usage_hourly_cell u, params p
    where u.hour_at >= p.start_at and u.hour_at < p.end_at
      and (len(p.regions) = 0 or list_contains(p.regions, u.region))
      and u.service in ('voice', 'voip', 'video')
    group by u.region, u.hour_at
),
filtered as (
    select region, hour((hour_at at time zone 'UTC') at time zone $tz) as hour_of_day, duration_s, records
    from hourly
),
by_hour as (
    select region, hour_of_day,
           sum(duration_s) / 3600.0 / $days as avg_erlangs,
           sum(records) / $days::double as avg_calls
    from filtered
    group by region, hour_of_day
),
final as (
    select region,
           arg_max(hour_of_day, avg_erlangs) as busy_hour,
           max(avg_erlangs) as busy_hour_erlangs,
           arg_max(avg_calls, avg_erlangs) as busy_hour_calls,
           sum(avg_erlangs) as daily_erlang_hours
    from by_hour
    group by region
    order by region
)
select * from final

-- Traffic series: one row per bucket (local hour/day/week/month start) per key of the chosen dimension.
with params as (
    select ($start::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           (($end::date + 1)::timestamp at time zone $tz) at time zone 'UTC' as end_at,
           $regions::varchar[] as regions,
           $services::varchar[] as services
),
filtered as (
    select (u.hour_at at time zone 'UTC') at time zone $tz as local_at, u.*
    from usage_hourly_cell u, params p
    where u.hour_at >= p.start_at and u.hour_at < p.end_at
      and (len(p.regions) = 0 or list_contains(p.regions, u.region))
      and (len(p.services) = 0 or list_contains(p.services, u.service))
),
bucketed as (
    select date_trunc($grain, local_at) as bucket_at,
           case $dim
               when 'region' then region
               when 'cell_id' then cell_id
               when 'service' then service
               when 'direction' then direction
               else 'all'
           end as key,
           records, duration_s, bytes_up + bytes_down as bytes, charge
    from filtered
),
final as (
    select bucket_at, key,
           sum(records)::bigint as records,
           sum(duration_s) / 60.0 as minutes,
           sum(bytes) / 1e9 as data_gb,
           sum(charge)::double as revenue
    from bucketed
    group by bucket_at, key
    order by bucket_at, key
)
select * from final

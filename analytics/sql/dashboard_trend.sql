-- Traffic series: one row per bucket (local hour/day/week/month start) per key of the chosen dimension.
-- The cube rows are summed per UTC hour and key first; only those (a few thousand) are
-- converted to local time and bucketed: the zone conversion per cube row was most of the cost.
with params as (
    {include:dashboard_params}
),
filtered as (
    select u.hour_at,
           case $dim
               when 'region' then u.region
               when 'cell_id' then u.cell_id
               when 'service' then u.service
               when 'direction' then u.direction
               else 'all'
           end as key,
           u.records, u.duration_s, u.bytes_up + u.bytes_down as bytes, u.charge
    from usage_hourly_cell u, params p
    where u.hour_at >= p.start_at and u.hour_at < p.end_at
      and (len(p.regions) = 0 or list_contains(p.regions, u.region))
      and (len(p.services) = 0 or list_contains(p.services, u.service))
),
hourly as (
    select hour_at, key, sum(records) as records, sum(duration_s) as duration_s, sum(bytes) as bytes,
           sum(charge) as charge
    from filtered
    group by hour_at, key
),
bucketed as (
    select date_trunc($grain, (hour_at at time zone 'UTC') at time zone $tz) as bucket_at, key,
           records, duration_s, bytes, charge
    from hourly
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

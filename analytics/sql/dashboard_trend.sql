-- Traffic series from the hourly cube: one row per bucket (local hour/day/week/month start) per
-- key of the chosen dimension. The hour grain and the cell and direction splits come here; the
-- day, week and month grains by total, region or service read the daily cube
-- (dashboard_trend_daily.sql). Each UTC hour of the range is converted to its local bucket
-- once (a few hundred conversions) and the cube rows join that map: converting every summed
-- (hour, key) row was most of the cost with many keys (600 cells: 400,000 conversions).
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
hours as (
    select h.hour_at, date_trunc($grain, timezone($tz, timezone('UTC', h.hour_at))) as bucket_at
    from (
        select unnest(range(date_trunc('hour', p.start_at), p.end_at, interval 1 hour)) as hour_at from params p
    ) as h
),
final as (
    select bucket_at, key,
           sum(records)::bigint as records,
           sum(duration_s) / 60.0 as minutes,
           sum(bytes) / 1e9 as data_gb,
           sum(charge)::double as revenue
    from filtered
    join hours using (hour_at)
    group by bucket_at, key
    order by bucket_at, key
)
select * from final

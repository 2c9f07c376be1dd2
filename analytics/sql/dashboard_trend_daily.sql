-- Traffic series from the daily cube: one row per bucket (local day, week or month start) per
-- key of a dimension the daily cube holds (region, service, or 'all' for the total).
-- usage_daily_region has a few rows per region and day where the hourly cube has one per
-- hour, cell, service and direction, and its days are local already: the default view
-- (day by region) reads a few thousand rows instead of a million. Hour grain and the cell
-- and direction splits read the hourly cube (dashboard_trend.sql).
with params as (
    select $regions::varchar[] as regions, $services::varchar[] as services
),
filtered as (
    select d.day_date,
           case $dim
               when 'region' then d.region
               when 'service' then d.service
               else 'all'
           end as key,
           d.records, d.duration_s, d.bytes_up + d.bytes_down as bytes, d.charge
    from usage_daily_region d, params p
    where d.day_date between $start::date and $end::date
      and (len(p.regions) = 0 or list_contains(p.regions, d.region))
      and (len(p.services) = 0 or list_contains(p.services, d.service))
),
final as (
    select date_trunc($grain, day_date)::timestamp as bucket_at, key,
           sum(records)::bigint as records,
           sum(duration_s) / 60.0 as minutes,
           sum(bytes) / 1e9 as data_gb,
           sum(charge)::double as revenue
    from filtered
    group by bucket_at, key
    order by bucket_at, key
)
select * from final

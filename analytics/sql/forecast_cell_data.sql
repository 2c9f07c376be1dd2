-- Data volume per cell: one row per UTC hour per region per cell with data, voip or video
-- traffic, from $since on; data_gb = (bytes_up + bytes_down) / 1e9 (the data_gb series'
-- services). cell_id '' (records without a cell) is kept: it counts in the region's day.
with final as (
    select
        hour_at,
        region,
        cell_id,
        sum(bytes_up + bytes_down) / 1e9 as data_gb
    from usage_hourly_cell
    where hour_at >= $since and service in ('data', 'voip', 'video')
    group by hour_at, region, cell_id
)
select * from final order by region, cell_id, hour_at

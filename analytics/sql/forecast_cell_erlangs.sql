-- Offered load per cell: one row per UTC hour per cell with voice/voip/video traffic, from
-- $since on; erlangs = connected seconds in the hour / 3600. Cells carry their capacity.
with load as (
    select
        hour_at,
        region,
        cell_id,
        sum(duration_s) / 3600.0 as erlangs
    from usage_hourly_cell
    where hour_at >= $since and service in ('voice', 'voip', 'video') and cell_id <> ''
    group by hour_at, region, cell_id
),
final as (
    select l.*, c.capacity_erlangs
    from load as l
    left join cells as c using (cell_id)
)
select * from final order by cell_id, hour_at

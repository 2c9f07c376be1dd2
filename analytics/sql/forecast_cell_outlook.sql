-- The per-cell capacity outlook with the cell reference's place: one row per cell of the
-- outlook (level = 'cell'), with lat, lon, site_id and technology (null for a cell that
-- left the reference since the outlook was computed).
with outlook as (
    select * exclude (level) from capacity_outlook where level = 'cell'
),
final as (
    select o.*, c.lat, c.lon, c.site_id, c.technology
    from outlook as o
    left join cells as c using (cell_id)
)
select * from final order by days_to_exhaustion nulls last, utilisation_peak desc nulls last, region, cell_id

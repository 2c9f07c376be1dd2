-- The cell reference with capacity: one row per cell.
with final as (
    select cell_id, region, capacity_erlangs from cells
)
select * from final order by region, cell_id

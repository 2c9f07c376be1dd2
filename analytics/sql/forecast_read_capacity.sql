-- The capacity outlook: one row per region and cell, soonest exhaustion first.
with final as (
    select * from capacity_outlook
)
select * from final order by days_to_exhaustion nulls last, utilisation_peak desc nulls last, level desc, region, cell_id

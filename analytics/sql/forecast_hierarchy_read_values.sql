-- Stored coherent daily forecasts: one row per metric per node per future day.
with final as (
    select * from forecast_hierarchy_values
)
select * from final order by metric, level, region, cell_id, ds

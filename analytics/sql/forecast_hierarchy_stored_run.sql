-- The stored coherent-totals run (analytics.forecast.hierarchy: whether a refit is due): one
-- row of forecast_hierarchy_choice, whose run columns (input_hash, options_hash, data_end_at,
-- computed_at) are the same on every row. A warehouse from before options_hash / data_end_at
-- lacks them: the caller reads what there is.
with final as (
    select * from forecast_hierarchy_choice
    order by computed_at desc
    limit 1
)
select * from final

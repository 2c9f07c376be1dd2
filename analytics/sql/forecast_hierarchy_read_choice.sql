-- The reconciliation backtest: one row per metric per method, the chosen one flagged.
with final as (
    select * from forecast_hierarchy_choice
)
select * from final order by metric, score nulls last, method

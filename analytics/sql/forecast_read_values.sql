-- Stored forecasts of one frequency: one row per series per future step.
with final as (
    select * from forecast_values where freq = $freq
)
select * from final order by region, metric, ds

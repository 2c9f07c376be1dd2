-- Stored series fits of one frequency: one row per series.
with final as (
    select * exclude (series_hash) from forecast_series where freq = $freq
)
select * from final order by region, metric

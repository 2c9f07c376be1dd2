-- Input hashes of the stored fits of one frequency: one row per series.
with final as (
    select unique_id, series_hash from forecast_series where freq = $freq
)
select * from final

-- Backtest accuracy of the chosen models over all series of one frequency: one row per model.
with chosen as (
    select b.*
    from forecast_backtests as b
    join forecast_series as s using (freq, unique_id, model)
    where b.freq = $freq and b.error is null
),
final as (
    select
        model,
        count(distinct unique_id) as series,
        avg(mase) as mase,
        avg(smape) as smape,
        avg(coverage_80) as coverage_80,
        avg(coverage_95) as coverage_95
    from chosen
    group by model
)
select * from final order by series desc, model

-- Backtest summary of one series: one row per model (mean over cut-offs), best MASE first.
with per_model as (
    select
        model,
        count(*) as windows,
        avg(mase) as mase,
        avg(smape) as smape,
        avg(mae) as mae,
        avg(coverage_80) as coverage_80,
        avg(coverage_95) as coverage_95,
        avg(seconds) as seconds_per_fit,
        count(error) as failed_windows,
        any_value(error) as error
    from forecast_backtests
    where freq = $freq and unique_id = $unique_id
    group by model
),
final as (
    select * from per_model
)
select * from final order by mase nulls last, model

-- How many forecast runs are stored: one row, column runs.
with final as (
    select count(*) as runs from forecast_runs
)
select * from final

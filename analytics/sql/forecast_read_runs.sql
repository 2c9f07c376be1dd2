-- Recent forecast runs: one row per run, newest first.
with final as (
    select * from forecast_runs
)
select * from final order by finished_at desc limit 20

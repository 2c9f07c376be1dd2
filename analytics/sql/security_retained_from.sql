-- The latest executed retention cutoff (records before it were purged): one row, column
-- cutoff_at, null when no retention ran.
with final as (
    select max(cutoff_at) as cutoff_at from security_retention_runs
)
select * from final

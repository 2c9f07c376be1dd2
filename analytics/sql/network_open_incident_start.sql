-- The start of the earliest stored incident still running at $since (its end_at at or after
-- it): one row, column start_at, null when none is.
with final as (
    select min(start_at) as start_at from incidents where end_at >= $since
)
select * from final

-- The plans reference as loaded, whole (copied into every worker's scratch DuckDB): one
-- plans row per row, in no particular order.
with final as (
    select * from plans
)
select * from final

-- The subscribers reference as loaded, whole (copied into every worker's scratch DuckDB): one
-- subscribers row per row, in no particular order.
with final as (
    select * from subscribers
)
select * from final

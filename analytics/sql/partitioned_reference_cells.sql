-- The cells reference as loaded, whole (copied into every worker's scratch DuckDB): one
-- cells row per row, in no particular order.
with final as (
    select * from cells
)
select * from final

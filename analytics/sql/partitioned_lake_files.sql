-- The lake's current files of table $tbl (what the driver ships to the workers): one
-- lake_files row per file, in no particular order.
with final as (
    select * from lake_files where tbl = $tbl
)
select * from final

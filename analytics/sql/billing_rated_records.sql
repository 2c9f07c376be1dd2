-- The stored rated records of month $month_date: one row per record (RATED_COLUMNS plus
-- month_date), in no particular order.
with final as (
    select * from rated_records where month_date = $month_date
)
select * from final

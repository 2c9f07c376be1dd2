-- The stored mismatches of month $month_date: one row per mismatched item, in the
-- report's order (start_at, record_id, source).
with final as (
    select * from reconcile_mismatches where month_date = $month_date
)
select * from final order by start_at, record_id, source

-- The stored breakdowns of month $month_date: one row per dimension (region, plan_id,
-- service) per value, in no particular order.
with final as (
    select * from reconcile_breakdown where month_date = $month_date
)
select * from final

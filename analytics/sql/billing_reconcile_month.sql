-- The stored reconciliation totals of month $month_date with the state they were built
-- from: one reconcile_months row, or none when the month was never stored.
with final as (
    select * from reconcile_months where month_date = $month_date
)
select * from final

-- Local months of the monthly cube that hold records: one row per month, oldest first.
with final as (
    select month_date from usage_monthly_region group by month_date having sum(records) > 0 order by month_date
)
select * from final

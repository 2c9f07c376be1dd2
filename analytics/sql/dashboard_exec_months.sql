-- Months with data: one row per local month (first day), newest first.
with final as (
    select month_date, sum(records)::bigint as records
    from usage_monthly_region
    group by month_date
    order by month_date desc
)
select * from final

-- The latest month of the monthly region cube: one row, column month_date, null when the
-- cube is empty.
with final as (
    select max(month_date) as month_date from usage_monthly_region
)
select * from final

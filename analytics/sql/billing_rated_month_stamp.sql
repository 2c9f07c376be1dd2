-- The stamp of the stored rating of month $month_date (what it was rated from): one
-- rated_months row, or none when the month was never stored.
with final as (
    select * from rated_months where month_date = $month_date
)
select * from final

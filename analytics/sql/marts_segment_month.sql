-- The stamp of the stored segment report of month $month_date (state it was built from,
-- totals_json, built_at): one segment_months row, or none when never built.
with final as (
    select * from segment_months where month_date = $month_date
)
select * from final

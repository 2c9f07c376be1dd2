-- UTC months that hold records or quality rows, with the records' state: one row per month.
-- Read from the hourly cube (small) instead of a scan of records; a month whose records
-- were all deleted (retention) still has its cube rows, and its state of 0 records.
with months as (
    select distinct cast(date_trunc('month', hour_at) as date) as month_date from usage_hourly_cell
    union
    select distinct cast(date_trunc('month', hour_at) as date) from quality_hourly_cell
),
final as (
    select month_date from months order by month_date
)
select * from final

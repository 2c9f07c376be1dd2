-- Data bounds for the sidebar filters: one row (first/last local day with records, total records).
with days as (
    select min(day_date) as first_date, max(day_date) as last_date, sum(records) as records
    from usage_daily_region
),
final as (
    select first_date, last_date, coalesce(records, 0)::bigint as records from days
)
select * from final

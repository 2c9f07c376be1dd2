-- What a month's stored reconciliation must match to be current: one row (the month's
-- records and the billed duplicate rows whose record falls in the month).
with month_records as (
    {include:billing_month_state}
),
month_dups as (
    select count(*) as dup_rows, max(load_id) as dup_max_load_id
    from ({include:billing_duplicates})
),
final as (
    select r.records, r.max_load_id, d.dup_rows, d.dup_max_load_id
    from month_records r, month_dups d
)
select * from final

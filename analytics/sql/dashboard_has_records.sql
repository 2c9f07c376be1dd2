-- Whether the warehouse holds any record: one row, column has_records (boolean).
with final as (
    select exists(select 1 from records) as has_records
)
select * from final

-- How many records the lake holds: one row, column records.
with final as (
    select count(*) as records from records
)
select * from final

-- The start of the newest loaded record (UTC): one row, column t, null without records.
with final as (
    select max(start_at) as t from records
)
select * from final

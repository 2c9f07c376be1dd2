-- The local month (first day, zone $tz) of the latest loaded record: one row, column m,
-- null when there are no records.
with final as (
    select date_trunc('month', timezone($tz, timezone('UTC', max(start_at))))::date as m
    from records
)
select * from final

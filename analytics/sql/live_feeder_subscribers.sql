-- The subscribers with a record in the 7 days before $end_at (the feeder's population):
-- one row per msisdn, in no particular order.
with final as (
    select distinct msisdn from records where start_at > $end_at - interval 7 days
)
select * from final

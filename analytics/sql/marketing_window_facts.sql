-- What the month's marketing queries need to know of a UTC window before they run, in one
-- scan (analytics/marketing/window.py): how many calls and texts (n) and records it holds,
-- its raw destination_country values (the rating engine's "at home" is decided on them)
-- and its raw record plan_id values (resolved to plans on them). Grain: one row.
-- Parameters: $start_at / $end_at (UTC window).
with
final as (
    select
        count(*) filter (where service in ('voice', 'sms')) as n,
        count(*) as records,
        list(distinct destination_country) as destinations,
        list(distinct plan_id) filter (where plan_id is not null) as raw_plans
    from records
    where start_at >= $start_at::timestamp
      and start_at < $end_at::timestamp
)

select * from final

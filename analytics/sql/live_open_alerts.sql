-- The alerts not yet resolved: one live_alerts row per open alert, in no particular order.
with final as (
    select * from live_alerts where resolved_at is null
)
select * from final

-- Alerts, newest first (raised_at, then alert_id): one live_alerts row per alert, the first
-- $n only; with $open_only true, only the alerts not yet resolved.
with final as (
    select * from live_alerts where not $open_only or resolved_at is null
)
select * from final order by raised_at desc, alert_id desc limit $n

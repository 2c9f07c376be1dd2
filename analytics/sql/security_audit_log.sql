-- The audit events, newest first, the first $limit only: one row per event (audit_id,
-- event_at, user_name, role, action, detail). Filters: $since (null: any time), $user_name
-- and $action ('' : any).
with final as (
    select audit_id, event_at, user_name, role, action, detail
    from security_audit
    where ($since is null or event_at >= $since)
      and ($user_name = '' or user_name = $user_name)
      and ($action = '' or action = $action)
)
select * from final order by audit_id desc limit $limit

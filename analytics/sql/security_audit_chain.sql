-- The whole audit log with its hashes, in chain order: one row per event (audit_id,
-- event_at, user_name, role, action, detail, prev_hash, row_hash), by audit_id.
with final as (
    select audit_id, event_at, user_name, role, action, detail, prev_hash, row_hash
    from security_audit
)
select * from final order by audit_id

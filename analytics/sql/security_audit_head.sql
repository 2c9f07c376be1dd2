-- The head of the audit chain: one row (audit_id, row_hash of the latest event), or none
-- when the log is empty.
with final as (
    select audit_id, row_hash from security_audit order by audit_id desc limit 1
)
select * from final

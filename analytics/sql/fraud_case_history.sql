-- The status changes of case $alert_key, oldest first: one row per change.
with final as (
    select status, changed_by, changed_at, note
    from fraud_case_events
    where alert_key = $alert_key
)
select * from final order by changed_at

-- One stored alert with its case status ('new' when no case row), the last change and its
-- note: one row, or none when there is no alert $alert_key.
with final as (
    select a.*, coalesce(c.status, 'new') as status, c.changed_by, c.changed_at, c.note
    from fraud_alerts a
    left join fraud_cases c using (alert_key)
    where a.alert_key = $alert_key
)
select * from final

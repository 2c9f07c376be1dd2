-- This run's alerts in their merged state (inside fraud.alerts.persist, on the writer's
-- connection: run_keys is its temp table of this run's keys): one row per alert with its
-- case status ('new' when no case row) and is_new, highest score first.
with final as (
    select a.alert_key, a.type, a.msisdn, a.region, a.score, a.first_seen_at, a.last_seen_at, a.evidence,
           coalesce(c.status, 'new') as status, k.is_new
    from fraud_alerts a
    join run_keys k using (alert_key)
    left join fraud_cases c using (alert_key)
)
select * from final order by score desc, alert_key

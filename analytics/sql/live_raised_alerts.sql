-- The alerts just raised (inside live.alerts.evaluate, on the writer's connection: _live_new
-- is the frame of new alerts registered on it): one open live_alerts row per new alert, by id.
with final as (
    select a.*
    from live_alerts a
    join _live_new n using (region, kpi, window_name, direction)
    where a.resolved_at is null
)
select * from final order by alert_id

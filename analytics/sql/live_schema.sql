-- Tables owned by analytics.live (created by analytics.live.alerts.ensure_live_schema).
-- Times are record time (UTC, the clock of the data: windows end at the newest record).

create sequence if not exists live_alert_id_seq start 1;

-- Breaches in progress: one row per region x KPI x window currently outside its band
-- (the pending state of the alert rule; a row becomes an alert after [live] hold_s).
create table if not exists live_breaches (
    region       varchar not null,
    kpi          varchar not null,
    window_name  varchar not null,
    direction    varchar not null,   -- low | high
    since_at     timestamp not null, -- first evaluation that saw it outside the band
    last_seen_at timestamp not null,
    value        double,
    band_lower   double,
    band_upper   double
);

-- Alerts: one row per region x KPI x window breach that lasted at least hold_s;
-- resolved_at is set by the first evaluation that finds the KPI back inside its band.
create table if not exists live_alerts (
    alert_id     bigint primary key,
    region       varchar not null,
    kpi          varchar not null,
    window_name  varchar not null,
    direction    varchar not null,   -- low | high
    value        double,             -- value when raised
    expected     double,
    band_lower   double,
    band_upper   double,
    since_at     timestamp not null, -- start of the breach
    raised_at    timestamp not null, -- evaluation time it was raised (since_at + >= hold_s)
    last_value   double,
    last_seen_at timestamp not null,
    resolved_at  timestamp           -- null while open
);

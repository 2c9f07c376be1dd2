-- Tables owned by analytics.fraud, created by analytics.fraud.alerts.ensure_fraud_schema().

-- Alerts: one row per alert key (type + actor [+ episode day]); merged across runs.
create table if not exists fraud_alerts (
    alert_key     varchar primary key,   -- e.g. sim_box:447700900123, usage_spike:447700900123:2026-03-04
    type          varchar not null,      -- sim_box | irsf | wangiri | sim_clone | usage_spike
    msisdn        varchar not null,      -- the line, or the foreign number for wangiri
    region        varchar,               -- the region most of the evidence records were in
    score         double not null,       -- 0..1 (0.5 = just past the thresholds)
    first_seen_at timestamp not null,    -- UTC
    last_seen_at  timestamp not null,    -- UTC
    evidence      varchar not null,      -- JSON object (counts, contacts, destinations, cells, record_ids)
    detected_at   timestamp not null,    -- UTC, first run that raised it
    updated_at    timestamp not null,    -- UTC, last run that raised it
    runs          integer not null default 1
);

-- Case state: one row per alert key that an analyst (or the system) has touched.
create table if not exists fraud_cases (
    alert_key  varchar primary key,
    status     varchar not null,         -- new | investigating | confirmed | dismissed
    changed_by varchar not null,
    changed_at timestamp not null,       -- UTC
    note       varchar
);

-- Case history: one row per status change.
create table if not exists fraud_case_events (
    alert_key  varchar not null,
    status     varchar not null,
    changed_by varchar not null,
    changed_at timestamp not null,       -- UTC
    note       varchar
);

-- Detection runs: one row per run of `python -m analytics fraud`.
create table if not exists fraud_runs (
    started_at   timestamp not null,     -- UTC
    finished_at  timestamp not null,
    since_at     timestamp,              -- null: the whole history was examined
    alerts_found bigint not null,
    alerts_new   bigint not null
);

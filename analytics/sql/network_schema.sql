-- Tables owned by analytics.network (created idempotently by ensure_schema).

-- Mart: one row per UTC hour x region x cell with the counts the network quality KPIs
-- are computed from (the live KPIs' aggregate columns, live_kpi_aggregates.sql, plus the
-- short calls). Counts add up, so a region, a day or a period is a sum of these rows.
create table if not exists quality_hourly_cell (
    hour_at            timestamp not null,  -- UTC, truncated to the hour
    region             varchar not null,
    cell_id            varchar not null,    -- '' for roaming records without a cell
    records            bigint not null,
    attempts           bigint not null,     -- outgoing voice records
    connected          bigint not null,     -- of which answered or dropped
    reached_unanswered bigint not null,     -- of which no_answer or busy
    failed             bigint not null,
    dropped            bigint not null,
    connected_s        bigint not null,     -- duration_s of the connected calls
    short_calls        bigint not null,     -- connected calls shorter than [network] short_call_s
    sms                bigint not null,
    data_sessions      bigint not null,
    data_bytes         bigint not null,
    active_subscribers bigint not null,     -- distinct msisdn of the cell-hour (not additive)
    primary key (hour_at, region, cell_id)
);

-- One row per UTC month of quality_hourly_cell: what it was built from (staleness check).
create table if not exists quality_months (
    month_date  date primary key,           -- first day of the UTC month
    records     bigint not null,            -- records of the month when built
    max_load_id bigint,
    options_sha varchar not null,           -- short_call_s
    built_at    timestamp not null          -- UTC
);

-- Incidents: one row per run of consecutive hours in which a cell's or a region's
-- outgoing calls (traffic) or ASR fell outside their band (analytics.network.incidents).
create table if not exists incidents (
    incident_id       varchar primary key,  -- level:region:cell:start (stable across rebuilds)
    level             varchar not null,     -- 'cell' or 'region'
    region            varchar not null,
    cell_id           varchar,              -- null at region level
    start_at          timestamp not null,   -- UTC, first hour outside the band
    end_at            timestamp not null,   -- UTC, exclusive: the hour after the last one
    hours             bigint not null,
    kpis              varchar not null,     -- what broke its band: 'asr low', 'call_attempts low'...
    attempts          bigint not null,      -- outgoing calls during the incident
    expected_attempts double,               -- sum of the hours' expected attempts
    asr               double,               -- ASR over the incident
    expected_asr      double,               -- mean of the hours' expected ASR
    subscribers       bigint not null,      -- distinct msisdn with a record there during it
    detected_at       timestamp not null    -- UTC
);

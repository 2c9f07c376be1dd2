-- Core warehouse schema (cdr-extract v1). Created idempotently by store.ensure_schema().
-- All *_at columns are UTC timestamps (TIMESTAMP, no zone); *_date columns are calendar
-- dates in the configured zone (settings.timezone). Money is DECIMAL(18,4) in the extract's currency.

-- The load manifest: one row per file a load looked at (also refused ones).
create table if not exists loads (
    load_id        bigint primary key,
    file_name      varchar not null,
    file_path      varchar,
    content_sha256 varchar not null,
    format         varchar not null,
    status         varchar not null,   -- loaded | refused (already_loaded files are not re-recorded)
    error          varchar,
    rows_read      bigint not null default 0,
    rows_loaded    bigint not null default 0,
    rows_duplicate bigint not null default 0,
    rows_rejected  bigint not null default 0,
    started_at     timestamp not null,
    finished_at    timestamp not null
);

-- Staged records: one row per distinct CDR (record_id unique across the warehouse).
-- The rows live as Parquet files under the Delta table <warehouse>.lake/records
-- (analytics/lake.py); this empty table only fixes their columns and types, and the view
-- `records` (redefined by every load over the files in lake_files) is what SQL reads.
create table if not exists records_schema (
    record_id           varchar not null,
    start_at            timestamp not null,  -- UTC
    msisdn              varchar not null,
    other_party         varchar not null,
    service             varchar not null,    -- voice | sms | mms | data | voip | video
    direction           varchar not null,    -- out | in
    duration_s          integer not null,
    cell_id             varchar,             -- null/foreign allowed on roaming records
    region              varchar not null,    -- the cell's region at load time, or ROAMING
    charge              decimal(18, 4),      -- billed amount; null when the source carries none
    disposition         varchar not null,    -- answered | no_answer | busy | failed | dropped
    bytes_up            bigint not null,
    bytes_down          bigint not null,
    is_roaming          boolean not null,
    destination_country varchar not null,    -- home country when the extract left it empty
    currency            varchar not null,
    plan_id             varchar,             -- as delivered; subscribers.plan_id fills gaps at rating time
    imsi                varchar,
    imei                varchar,
    load_id             bigint not null,
    source_line         bigint not null
);

-- The files that make the records table now: one row per Parquet file, relative to the
-- table folder. Written in the same transaction as the load's cubes and manifest row.
create table if not exists lake_files (
    tbl          varchar not null,
    path         varchar primary key,
    month        varchar not null,   -- local month of every row in the file (partition)
    load_id      bigint not null,    -- the load that wrote it (0 for compaction and migration)
    rows         bigint not null,
    bytes        bigint not null,
    min_start_at timestamp,
    max_start_at timestamp,
    added_at     timestamp not null
);

-- Files taken out of the table (compaction, retention) that a kept snapshot may still read.
create table if not exists lake_retired (
    tbl        varchar not null,
    path       varchar not null,
    retired_at timestamp not null
);

-- Rows refused by validation: one row per bad row, with the reason and its raw values (JSON).
create table if not exists quarantine (
    load_id     bigint not null,
    source_file varchar not null,
    source_line bigint not null,
    reason      varchar not null,   -- rule:column, e.g. bad_enum:service, unknown_cell:cell_id
    detail      varchar,
    raw         varchar             -- the row's raw values as a JSON object
);

-- Records whose record_id had been seen before (same file, other file, earlier load).
create table if not exists duplicates (
    load_id     bigint not null,
    source_line bigint not null,
    record_id   varchar not null,
    msisdn      varchar,
    start_at    timestamp,
    charge      decimal(18, 4)
);

-- Reference data; each is replaced whole when a newer file is given to ingest.
create table if not exists cells (
    cell_id          varchar primary key,
    region           varchar not null,
    lat              double not null,
    lon              double not null,
    site_id          varchar,
    technology       varchar,
    capacity_erlangs double
);

create table if not exists plans (
    plan_id               varchar primary key,
    name                  varchar not null,
    monthly_fee           decimal(18, 4) not null,
    incl_voice_min        bigint not null,
    incl_sms              bigint not null,
    incl_data_mb          bigint not null,
    voice_per_min         decimal(18, 4) not null,
    sms_each              decimal(18, 4) not null,
    data_per_mb           decimal(18, 4) not null,
    intl_voice_per_min    decimal(18, 4) not null,
    roaming_voice_per_min decimal(18, 4) not null,
    roaming_data_per_mb   decimal(18, 4) not null
);

create table if not exists subscribers (
    msisdn          varchar primary key,
    plan_id         varchar not null,
    activation_date date
);

-- Which reference file is stored (for "a newer file replaces the stored one").
create table if not exists reference_files (
    kind           varchar primary key,  -- cells | plans | subscribers
    file_name      varchar not null,
    content_sha256 varchar not null,
    rows           bigint not null,
    loaded_at      timestamp not null
);

-- Cube: one row per UTC hour per cell per service per direction.
-- subscribers = exact distinct msisdn within that row's group (not additive across rows).
-- Its rows are Parquet files of the lake (analytics/lake.py, a folder per local month);
-- this empty table fixes their columns and the view `usage_hourly_cell` names the files.
create table if not exists usage_hourly_cell_schema (
    hour_at     timestamp not null,   -- UTC, truncated to the hour
    region      varchar not null,
    cell_id     varchar not null,     -- '' for roaming records without a cell
    service     varchar not null,
    direction   varchar not null,
    records     bigint not null,
    subscribers bigint not null,
    duration_s  bigint not null,
    bytes_up    bigint not null,
    bytes_down  bigint not null,
    charge      decimal(18, 4) not null,
    answered    bigint not null,
    no_answer   bigint not null,
    busy        bigint not null,
    failed      bigint not null,
    dropped     bigint not null
);

-- Cube: one row per local calendar day per region per service (both directions).
create table if not exists usage_daily_region (
    day_date    date not null,        -- calendar day in settings.timezone
    region      varchar not null,
    service     varchar not null,
    records     bigint not null,
    subscribers bigint not null,      -- exact distinct msisdn of that region-day-service
    duration_s  bigint not null,
    bytes_up    bigint not null,
    bytes_down  bigint not null,
    charge      decimal(18, 4) not null
);

-- Cube: one row per local calendar month per region: exact distinct subscribers and totals.
create table if not exists usage_monthly_region (
    month_date    date not null,      -- first day of the month in settings.timezone
    region        varchar not null,
    records       bigint not null,
    subscribers   bigint not null,
    revenue       decimal(18, 4) not null,
    voice_minutes double not null,    -- voice_s / 60 (kept exact through voice_s)
    sms           bigint not null,
    data_gb       double not null,    -- data_bytes / 1e9
    voice_s       bigint not null,
    data_bytes    bigint not null
);

-- Cube: one row per subscriber per local calendar month (segments, billing, marketing).
-- Lake files like usage_hourly_cell's (a folder per month); the view `subscriber_month`.
create table if not exists subscriber_month_schema (
    month_date          date not null,
    msisdn              varchar not null,
    records             bigint not null,
    active_days         bigint not null,
    voice_out_s         bigint not null,  -- connected seconds, outgoing voice
    voice_in_s          bigint not null,
    voice_calls_out     bigint not null,
    voice_calls_in      bigint not null,
    sms_out             bigint not null,  -- sms + mms outgoing
    sms_in              bigint not null,
    data_bytes          bigint not null,  -- bytes_up + bytes_down of data, voip, video
    intl_voice_s        bigint not null,
    roaming_records     bigint not null,
    charge              decimal(18, 4) not null,
    regions             bigint not null,
    top_region          varchar
);

-- Helper of the month grains: records per local month x msisdn x region, so a load into
-- a month with data merges its counts instead of rescanning the month (distinct
-- subscribers of a region-month, a subscriber-month's regions and top region). Filled for
-- a month by its first load after a bulk one (analytics/sql/cubes_months_merge.sql);
-- a month without rows here has simply not needed it yet.
create table if not exists month_subscriber_regions (
    month_date date not null,         -- first day of the month in settings.timezone
    msisdn     varchar not null,
    region     varchar not null,
    records    bigint not null
);

-- Helper sets of earlier versions: month cubes are now recomputed from the records of
-- the touched months (analytics/sql/cubes_refresh.sql), so they are dropped.
drop table if exists subscriber_region_month;
drop table if exists subscriber_day;

-- Tables owned by analytics.marts (created idempotently by ensure_marts_schema).

-- Stored segment report (analytics.marketing.report.segment_report) of a local month:
-- one row per month with what it was computed from (staleness check) and its totals.
create table if not exists segment_months (
    month_date   date primary key,            -- calendar month in settings.timezone
    window_start date not null,               -- first month whose records the report reads
    records      bigint not null,             -- records of window_start..month when built
    max_load_id  bigint,
    plans_sha    varchar,                     -- reference_files content hashes used
    subs_sha     varchar,
    options_sha  varchar not null,            -- [marketing] settings, time zone, home country
    totals_json  varchar not null,            -- the report's totals (typed JSON, see marts.py)
    built_s      double not null,
    built_at     timestamp not null           -- UTC
);

-- One row per month x part of the report (subscribers, segments, matrix, recommendations,
-- upsell, plan_costs): the part's frame as Parquet bytes. The report's columns belong to
-- analytics.marketing and change with it; Parquet keeps this mart independent of them.
create table if not exists segment_parts (
    month_date date not null,
    part       varchar not null,
    rows       bigint not null,
    parquet    blob not null,
    primary key (month_date, part)
);

-- Retention runs (a table of the warehouse, written in the same transaction as the deletes):
-- one row per executed (not dry) run; cutoff_at = oldest start_at kept.
create table if not exists security_retention_runs (
    run_at      timestamp not null,
    run_by      varchar not null,
    keep_months integer not null,
    cutoff_at   timestamp not null,
    deleted     varchar not null    -- JSON object: table -> rows deleted
);

-- Retention (analytics.security.retention): record-level rows older than $cutoff (UTC).
-- One statement per block, named by the `-- name:` line above it. Table names are fixed
-- here, never built from input; $cutoff is the only value and goes in as a parameter.

-- name: count_records
select count(*) as n, min(start_at) as oldest from records where start_at < $cutoff;
-- name: delete_records
delete from records where start_at < $cutoff;

-- name: count_rated_records
select count(*) as n, min(start_at) as oldest from rated_records where start_at < $cutoff;
-- name: delete_rated_records
delete from rated_records where start_at < $cutoff;

-- name: count_duplicates
with final as (
    select coalesce(d.start_at, l.started_at) as aged_at
    from duplicates as d
    left join loads as l using (load_id)
)
select count(*) as n, min(aged_at) as oldest from final where aged_at < $cutoff;
-- name: delete_duplicates
delete from duplicates as d
where coalesce(d.start_at, (select l.started_at from loads as l where l.load_id = d.load_id)) < $cutoff;

-- name: count_reconcile_mismatches
select count(*) as n, min(start_at) as oldest from reconcile_mismatches where start_at < $cutoff;
-- name: delete_reconcile_mismatches
delete from reconcile_mismatches where start_at < $cutoff;

-- A quarantined row ages by its own record time (its raw start_time, read as a timestamp
-- with or without offset; without one it is UTC), and by its load's time only when the raw
-- value is not a time at all.
-- name: count_quarantine
with final as (
    select coalesce(
        timezone('UTC', try_cast(json_extract_string(q.raw, '$.start_time') as timestamptz)),
        l.started_at
    ) as aged_at
    from quarantine as q
    left join loads as l using (load_id)
)
select count(*) as n, min(aged_at) as oldest from final where aged_at < $cutoff;
-- name: delete_quarantine
delete from quarantine as q
where coalesce(
    timezone('UTC', try_cast(json_extract_string(q.raw, '$.start_time') as timestamptz)),
    (select l.started_at from loads as l where l.load_id = q.load_id)
) < $cutoff;

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

-- name: count_quarantine
with final as (
    select l.started_at as aged_at
    from quarantine as q
    join loads as l using (load_id)
)
select count(*) as n, min(aged_at) as oldest from final where aged_at < $cutoff;
-- name: delete_quarantine
delete from quarantine
where load_id in (select load_id from loads where started_at < $cutoff);

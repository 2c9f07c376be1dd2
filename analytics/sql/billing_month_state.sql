-- Months present in records, with what the stored rating must match: one row per UTC
-- month slice is not enough for a local zone, so callers pass the local-month expression.
with final as (
    select count(*) as records, max(load_id) as max_load_id
    from records
    where start_at >= $start_at and start_at < $end_at
)
select * from final

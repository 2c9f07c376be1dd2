-- The load manifest, newest first: one row per file a load looked at.
with final as (
    select load_id, file_name, format, status, error, rows_read, rows_loaded,
           rows_duplicate, rows_rejected, started_at, finished_at,
           date_diff('millisecond', started_at, finished_at) / 1000.0 as seconds
    from loads
    order by load_id desc
)
select * from final

-- First and last record instant (UTC) from the lake's file statistics (no scan of records);
-- calendar.record_months confirms each month in between against records.
with final as (
    select min(min_start_at) as first_at, max(max_start_at) as last_at from lake_files where tbl = 'records'
)
select * from final

-- The frames of the stored segment report of month $month_date: one row per part (its
-- name, and the frame as Parquet bytes).
with final as (
    select part, parquet from segment_parts where month_date = $month_date
)
select * from final

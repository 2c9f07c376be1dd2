-- Does the local month starting $month hold at least one record? One row (constant bounds, so
-- DuckDB skips the row groups outside the month).
with bounds as (
    select ($month::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           (($month::date + interval 1 month)::timestamp at time zone $tz) at time zone 'UTC' as end_at
),
final as (
    select exists (select 1 from records r, bounds b where r.start_at >= b.start_at and r.start_at < b.end_at) as has_records
)
select * from final

-- Exact distinct subscribers of the cells $cells over the range: one row per cell with records
-- (read from records; the cell map asks only for the cells its cube bound cannot decide).
with params as (
    select ($start::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           (($end::date + 1)::timestamp at time zone $tz) at time zone 'UTC' as end_at,
           $services::varchar[] as services,
           $cells::varchar[] as cells
),
final as (
    select r.cell_id, count(distinct r.msisdn)::bigint as subscribers
    from records r, params p
    where r.start_at >= p.start_at and r.start_at < p.end_at
      and (len(p.services) = 0 or list_contains(p.services, r.service))
      and list_contains(p.cells, r.cell_id)
    group by r.cell_id
)
select * from final

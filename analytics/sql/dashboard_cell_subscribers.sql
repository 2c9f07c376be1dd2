-- Exact distinct subscribers of the cells $cells over the range: one row per cell with records
-- (read from records; the cell map asks only for the cells its cube bound cannot decide).
-- With $cut, of the subscribers up to that msisdn only: a lower bound read from a slice of
-- the records (dashboard_subscriber_cut.sql).
-- The cells are a semi join (a hash lookup per record, not a scan of the list), and distinct
-- subscribers are counted in two levels (group by cell and msisdn, then count the groups).
with params as (
    select ($start::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           (($end::date + 1)::timestamp at time zone $tz) at time zone 'UTC' as end_at,
           $services::varchar[] as services
),
asked as (
    select unnest($cells::varchar[]) as cell_id
),
per_subscriber as (
    select r.cell_id, r.msisdn
    from records r, params p
    where r.start_at >= p.start_at and r.start_at < p.end_at
      and (len(p.services) = 0 or list_contains(p.services, r.service))
      and ($cut::varchar is null or r.msisdn <= $cut)
      and r.cell_id in (select cell_id from asked)
    group by all
),
final as (
    select cell_id, count(*)::bigint as subscribers
    from per_subscriber
    group by cell_id
)
select * from final

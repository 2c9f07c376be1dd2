-- Distinct subscribers with any record in each incident's place and hours: one row per
-- incident. $ids, $regions, $cells (null at region level), $starts, $ends are parallel lists.
with spans as (
    select unnest($ids::varchar[]) as incident_id,
           unnest($regions::varchar[]) as region,
           unnest($cells::varchar[]) as cell_id,
           unnest($starts::timestamp[]) as start_at,
           unnest($ends::timestamp[]) as end_at
),
touched as (
    select s.incident_id, r.msisdn
    from records r
    join spans s on r.region = s.region
                and (s.cell_id is null or coalesce(r.cell_id, '') = s.cell_id)
                and r.start_at >= s.start_at and r.start_at < s.end_at
    where r.start_at >= cast($lo as timestamp) and r.start_at < cast($hi as timestamp)
),
final as (
    select s.incident_id, count(distinct t.msisdn) as subscribers
    from spans s
    left join touched t using (incident_id)
    group by s.incident_id
)
select * from final

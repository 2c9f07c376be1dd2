-- The records behind one point of a series: one row per record (capped by $limit).
with params as (
    select ($from_local::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           ($to_local::timestamp at time zone $tz) at time zone 'UTC' as end_at,
           $regions::varchar[] as regions,
           $services::varchar[] as services
),
filtered as (
    select r.*
    from records r, params p
    where r.start_at >= p.start_at and r.start_at < p.end_at
      and (len(p.regions) = 0 or list_contains(p.regions, r.region))
      and (len(p.services) = 0 or list_contains(p.services, r.service))
      and ($cell = '' or coalesce(r.cell_id, '') = $cell)
      and ($direction = '' or r.direction = $direction)
),
final as (
    select record_id,
           (start_at at time zone 'UTC') at time zone $tz as start_local,
           msisdn, other_party, service, direction, disposition, duration_s,
           bytes_up + bytes_down as bytes, charge::double as charge, region, cell_id, is_roaming
    from filtered
    order by start_at, record_id
    limit $limit
)
select * from final

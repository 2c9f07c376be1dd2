-- Coverage gaps: one row per reference cell with no records at all in the range.
with params as (
    select ($start::timestamp at time zone $tz) at time zone 'UTC' as start_at,
           (($end::date + 1)::timestamp at time zone $tz) at time zone 'UTC' as end_at,
           $regions::varchar[] as regions
),
heard as (
    select distinct u.cell_id
    from usage_hourly_cell u, params p
    where u.hour_at >= p.start_at and u.hour_at < p.end_at
),
last_heard as (
    select cell_id, max(hour_at) as last_hour_at from usage_hourly_cell group by cell_id
),
final as (
    select c.cell_id, c.region, c.site_id, c.technology,
           (l.last_hour_at at time zone 'UTC') at time zone $tz as last_record_hour
    from cells c
    cross join params p
    left join last_heard l using (cell_id)
    where (len(p.regions) = 0 or list_contains(p.regions, c.region))
      and c.cell_id not in (select cell_id from heard)
    order by c.region, c.cell_id
)
select * from final

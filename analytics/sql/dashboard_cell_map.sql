-- Cell map: one row per reference cell in the selected regions, with its traffic over the
-- range from the hourly cube (subscribers_at_least = the largest exact distinct count of one
-- hour x service x direction of the cell: a lower bound) and its busy-hour load: the highest
-- hourly carried traffic (erlangs of voice, voip, video) against capacity_erlangs.
with params as (
    {include:dashboard_params}
),
selected_cells as (
    select c.*
    from cells c, params p
    where len(p.regions) = 0 or list_contains(p.regions, c.region)
),
traffic as (
    select u.cell_id,
           sum(u.records)::bigint as records,
           max(u.subscribers)::bigint as subscribers_at_least,
           sum(u.duration_s) / 60.0 as minutes,
           sum(u.bytes_up + u.bytes_down) / 1e9 as data_gb
    from usage_hourly_cell u, params p
    where u.hour_at >= p.start_at and u.hour_at < p.end_at
      and (len(p.services) = 0 or list_contains(p.services, u.service))
      and u.cell_id in (select cell_id from selected_cells)
    group by u.cell_id
),
hourly_load as (
    select u.cell_id, u.hour_at, sum(u.duration_s) / 3600.0 as erlangs
    from usage_hourly_cell u, params p
    where u.hour_at >= p.start_at and u.hour_at < p.end_at
      and u.service in ('voice', 'voip', 'video')
      and u.cell_id in (select cell_id from selected_cells)
    group by u.cell_id, u.hour_at
),
busy as (
    select cell_id, max(erlangs) as busy_hour_erlangs from hourly_load group by cell_id
),
final as (
    select c.cell_id, c.region, c.lat, c.lon, c.site_id, c.technology, c.capacity_erlangs,
           coalesce(t.records, 0)::bigint as records,
           coalesce(t.subscribers_at_least, 0)::bigint as subscribers_at_least,
           coalesce(t.minutes, 0) as minutes,
           coalesce(t.data_gb, 0) as data_gb,
           coalesce(b.busy_hour_erlangs, 0) as busy_hour_erlangs,
           case when c.capacity_erlangs > 0
                then coalesce(b.busy_hour_erlangs, 0) / c.capacity_erlangs end as busy_hour_load
    from selected_cells c
    left join traffic t using (cell_id)
    left join busy b using (cell_id)
    order by c.region, c.cell_id
)
select * from final

-- Hour-of-day x weekday demand from the hourly cube: one row per ISO weekday (1 = Monday) per
-- local hour. subscribers_at_least = the largest exact distinct count of one cube row of the
-- group (hour x cell x service x direction): a lower bound of the group's distinct subscribers,
-- enough to decide "not small" without scanning records.
with params as (
    {include:dashboard_params}
),
hourly as (
    -- summed per UTC hour first: the zone conversion then runs on a few hundred rows
    select u.hour_at, sum(u.records) as records, max(u.subscribers) as subscribers,
           sum(u.duration_s) as duration_s, sum(u.bytes_up + u.bytes_down) as bytes
    from usage_hourly_cell u, params p
    where u.hour_at >= p.start_at and u.hour_at < p.end_at
      and (len(p.regions) = 0 or list_contains(p.regions, u.region))
      and (len(p.services) = 0 or list_contains(p.services, u.service))
    group by u.hour_at
),
filtered as (
    select (hour_at at time zone 'UTC') at time zone $tz as local_at, records, subscribers, duration_s, bytes
    from hourly
),
final as (
    select isodow(local_at)::integer as weekday, hour(local_at)::integer as hour,
           sum(records)::bigint as records,
           max(subscribers)::bigint as subscribers_at_least,
           sum(duration_s) / 60.0 as minutes,
           sum(bytes) / 1e9 as data_gb
    from filtered
    group by all
    order by weekday, hour
)
select * from final

-- Distinct subscribers per ISO weekday (1 = Monday) per local hour, from records: exact, or,
-- with $cut, counted over the subscribers up to that msisdn only (a lower bound that reads a
-- slice of the records: see dashboard_subscriber_cut.sql). Records take their local weekday
-- and hour from a join on the range's UTC quarter hours (every zone's offset is a whole
-- number of quarter hours: a few thousand conversions, not one per record) and are counted in
-- two levels (group by key and msisdn, then count the groups), as the cube refresh does.
with params as (
    {include:dashboard_params}
),
quarters as (
    select q.quarter_at, timezone($tz, timezone('UTC', q.quarter_at)) as local_at
    from (select unnest(range(p.start_at, p.end_at, interval 15 minutes)) as quarter_at from params p) as q
),
per_subscriber as (
    select isodow(q.local_at) as weekday, hour(q.local_at) as hour, r.msisdn
    from records r
    join quarters q on q.quarter_at = time_bucket(interval 15 minutes, r.start_at),
         params p
    where r.start_at >= p.start_at and r.start_at < p.end_at
      and ($cut::varchar is null or r.msisdn <= $cut)
      and (len(p.regions) = 0 or list_contains(p.regions, r.region))
      and (len(p.services) = 0 or list_contains(p.services, r.service))
    group by all
),
final as (
    select weekday::integer as weekday, hour::integer as hour, count(*)::bigint as subscribers
    from per_subscriber
    group by all
    order by weekday, hour
)
select * from final

-- Hour-of-day x weekday demand: one row per ISO weekday (1 = Monday) per local hour,
-- with exact distinct subscribers (for k-anonymity suppression).
with params as (
    {include:dashboard_params}
),
filtered as (
    select (r.start_at at time zone 'UTC') at time zone $tz as local_at,
           r.msisdn, r.duration_s, r.bytes_up + r.bytes_down as bytes
    from records r, params p
    where r.start_at >= p.start_at and r.start_at < p.end_at
      and (len(p.regions) = 0 or list_contains(p.regions, r.region))
      and (len(p.services) = 0 or list_contains(p.services, r.service))
),
final as (
    select isodow(local_at)::integer as weekday, hour(local_at)::integer as hour,
           count(*)::bigint as records,
           count(distinct msisdn)::bigint as subscribers,
           sum(duration_s) / 60.0 as minutes,
           sum(bytes) / 1e9 as data_gb
    from filtered
    group by all
    order by weekday, hour
)
select * from final

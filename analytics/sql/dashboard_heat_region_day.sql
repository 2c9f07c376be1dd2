-- Region x local day demand: one row per region per day, with exact distinct subscribers
-- (with $cut: of the subscribers up to that msisdn only, a lower bound; see
-- dashboard_subscriber_cut.sql).
with params as (
    {include:dashboard_params}
),
filtered as (
    select r.region, cast((r.start_at at time zone 'UTC') at time zone $tz as date) as day_date,
           r.msisdn, r.duration_s, r.bytes_up + r.bytes_down as bytes
    from records r, params p
    where r.start_at >= p.start_at and r.start_at < p.end_at
      and ($cut::varchar is null or r.msisdn <= $cut)
      and (len(p.regions) = 0 or list_contains(p.regions, r.region))
      and (len(p.services) = 0 or list_contains(p.services, r.service))
),
final as (
    select region, day_date,
           count(*)::bigint as records,
           count(distinct msisdn)::bigint as subscribers,
           sum(duration_s) / 60.0 as minutes,
           sum(bytes) / 1e9 as data_gb
    from filtered
    group by all
    order by region, day_date
)
select * from final

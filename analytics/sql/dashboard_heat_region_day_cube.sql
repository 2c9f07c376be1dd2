-- Region x local day demand from the daily cube: one row per region per day. The cube's
-- subscribers are exact per region x day x service; subscribers_at_least = the largest of the
-- selected services (exact when one service is selected, a lower bound otherwise).
with params as (
    select $regions::varchar[] as regions, $services::varchar[] as services
),
final as (
    select d.region, d.day_date,
           sum(d.records)::bigint as records,
           max(d.subscribers)::bigint as subscribers_at_least,
           count(*)::bigint as services,
           sum(d.duration_s) / 60.0 as minutes,
           sum(d.bytes_up + d.bytes_down) / 1e9 as data_gb
    from usage_daily_region d, params p
    where d.day_date between $start::date and $end::date
      and (len(p.regions) = 0 or list_contains(p.regions, d.region))
      and (len(p.services) = 0 or list_contains(p.services, d.service))
    group by all
    order by d.region, d.day_date
)
select * from final

-- The analyst's alert queue: one row per stored alert with its case status, highest score first.
-- Empty lists / null dates mean "no filter". Params: $types, $regions, $statuses, $start_date, $end_date.
with alerts as (
    select
        a.alert_key, a.type, a.msisdn, a.region, a.score, a.first_seen_at, a.last_seen_at,
        coalesce(c.status, 'new') as status, c.changed_by, c.changed_at,
        coalesce(json_extract(a.evidence, '$.record_count')::bigint, 0) as record_count
    from fraud_alerts a
    left join fraud_cases c using (alert_key)
),

final as (
    select *
    from alerts
    where (len($types::varchar[]) = 0 or list_contains($types::varchar[], type))
      and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], region))
      and (len($statuses::varchar[]) = 0 or list_contains($statuses::varchar[], status))
      and ($start_date::date is null or last_seen_at >= $start_date::date)
      and ($end_date::date is null or first_seen_at < $end_date::date + 1)
)

select * from final order by score desc, last_seen_at desc, alert_key

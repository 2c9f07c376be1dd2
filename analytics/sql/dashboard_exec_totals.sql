-- Headline figures: one row per requested local month (missing months give zero rows).
-- Definitions as in `summary`: subscribers = distinct msisdn of the month; revenue = billed charge.
with months as (
    select unnest($months::date[]) as month_date
),
by_region as (
    select month_date, sum(records)::bigint as records, sum(revenue)::double as revenue,
           sum(voice_minutes) as voice_minutes, sum(sms)::bigint as sms, sum(data_gb) as data_gb
    from usage_monthly_region
    where month_date in (select month_date from months)
    group by month_date
),
by_subscriber as (
    select month_date, count(*)::bigint as subscribers,
           sum(roaming_records)::bigint as roaming_records
    from subscriber_month
    where month_date in (select month_date from months)
    group by month_date
),
final as (
    select m.month_date,
           coalesce(r.records, 0)::bigint as records,
           coalesce(s.subscribers, 0)::bigint as subscribers,
           coalesce(r.revenue, 0) as revenue,
           coalesce(r.voice_minutes, 0) as voice_minutes,
           coalesce(r.sms, 0)::bigint as sms,
           coalesce(r.data_gb, 0) as data_gb,
           coalesce(s.roaming_records, 0)::bigint as roaming_records
    from months m
    left join by_region r using (month_date)
    left join by_subscriber s using (month_date)
    order by m.month_date
)
select * from final

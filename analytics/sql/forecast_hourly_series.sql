-- Hourly region metrics to forecast: one row per UTC hour per region (usage_hourly_cell),
-- from $since on. Same metric definitions as `summary`, plus erlangs: the connected
-- seconds of voice, voip and video in the hour / 3600 (the offered load in Erlangs).
with per_hour as (
    select
        hour_at,
        region,
        sum(records)::double as records,
        sum(case when service = 'voice' then duration_s else 0 end) / 60.0 as voice_minutes,
        sum(case when service in ('sms', 'mms') then records else 0 end)::double as sms,
        sum(case when service in ('data', 'voip', 'video') then bytes_up + bytes_down else 0 end) / 1e9 as data_gb,
        sum(case when service in ('voice', 'voip', 'video') then duration_s else 0 end) / 3600.0 as erlangs
    from usage_hourly_cell
    where hour_at >= $since
    group by hour_at, region
),
final as (
    select * from per_hour
)
select * from final order by region, hour_at

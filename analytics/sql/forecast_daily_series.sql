-- Daily region metrics to forecast: one row per local day per region (usage_daily_region).
-- Metrics exactly as `summary` defines them: records (all services), voice_minutes
-- (duration_s / 60 of voice, both directions), sms (sms + mms records), data_gb
-- ((bytes_up + bytes_down) / 1e9 of data, voip, video).
with per_day as (
    select
        day_date,
        region,
        sum(records)::double as records,
        sum(case when service = 'voice' then duration_s else 0 end) / 60.0 as voice_minutes,
        sum(case when service in ('sms', 'mms') then records else 0 end)::double as sms,
        sum(case when service in ('data', 'voip', 'video') then bytes_up + bytes_down else 0 end) / 1e9 as data_gb
    from usage_daily_region
    group by day_date, region
),
final as (
    select * from per_day
)
select * from final order by region, day_date

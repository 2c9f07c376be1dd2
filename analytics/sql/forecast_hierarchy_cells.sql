-- Additive metrics per cell for the forecast hierarchy (cells -> regions -> national): one row
-- per UTC hour per region per cell (usage_hourly_cell; cell_id '' = records without a cell,
-- kept so that a region's cells add up to the region). Same definitions as
-- forecast_daily_series.sql; analytics.forecast.hierarchy sums the hours into local days.
with per_hour as (
    select
        hour_at,
        region,
        cell_id,
        sum(records)::double as records,
        sum(case when service = 'voice' then duration_s else 0 end) / 60.0 as voice_minutes,
        sum(case when service in ('sms', 'mms') then records else 0 end)::double as sms,
        sum(case when service in ('data', 'voip', 'video') then bytes_up + bytes_down else 0 end) / 1e9 as data_gb
    from usage_hourly_cell
    group by hour_at, region, cell_id
),
final as (
    select * from per_hour
)
select * from final order by region, cell_id, hour_at

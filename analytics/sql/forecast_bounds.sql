-- The end of the loaded data: last local day of the daily cube, last UTC hour of the hourly cube.
with final as (
    select
        (select min(day_date) from usage_daily_region) as first_day,
        (select max(day_date) from usage_daily_region) as last_day,
        (select min(hour_at) from usage_hourly_cell) as first_hour,
        (select max(hour_at) from usage_hourly_cell) as last_hour
)
select * from final

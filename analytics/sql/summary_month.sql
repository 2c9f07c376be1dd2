-- The monthly executive summary of one local calendar month ($month = first day).
-- Grain of the result: one row per region (ROAMING included) of that month.
with regions as (
    select *
    from usage_monthly_region
    where month_date = $month
),
final as (
    select
        region,
        records,
        subscribers,
        revenue,
        voice_minutes,
        sms,
        data_gb
    from regions
)
select * from final order by region

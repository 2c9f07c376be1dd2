-- The monthly executive summary of one local calendar month ($month = first day).
-- Grain of the result: one row per region: every region of the cell reference (zeros
-- when it carried no traffic that month) plus any region that had records (ROAMING).
with regions as (
    select distinct region from cells
    union
    select distinct region from usage_monthly_region where month_date = $month
),
month_rows as (
    select * from usage_monthly_region where month_date = $month
),
final as (
    select
        r.region,
        coalesce(m.records, 0) as records,
        coalesce(m.subscribers, 0) as subscribers,
        coalesce(m.revenue, 0) as revenue,
        coalesce(m.voice_minutes, 0) as voice_minutes,
        coalesce(m.sms, 0) as sms,
        coalesce(m.data_gb, 0) as data_gb
    from regions as r
    left join month_rows as m using (region)
)
select * from final order by region

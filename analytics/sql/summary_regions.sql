-- The executive summary's figures per region for the requested local months ($months:
-- first days). Grain: one row per month x region, for every region of the cell reference
-- (zeros when it carried no traffic that month) plus any region that had records (ROAMING).
with months as (
    select unnest($months::date[]) as month_date
),
month_rows as (
    select * from usage_monthly_region where month_date in (select month_date from months)
),
regions as (
    select m.month_date, r.region
    from months as m
    cross join (select distinct region from cells) as r
    union
    select month_date, region from month_rows
),
final as (
    select
        r.month_date,
        r.region,
        coalesce(m.records, 0)::bigint as records,
        coalesce(m.subscribers, 0)::bigint as subscribers,
        coalesce(m.revenue, 0) as revenue,
        coalesce(m.voice_minutes, 0) as voice_minutes,
        coalesce(m.sms, 0)::bigint as sms,
        coalesce(m.data_gb, 0) as data_gb
    from regions as r
    left join month_rows as m using (month_date, region)
)
select * from final order by month_date, region

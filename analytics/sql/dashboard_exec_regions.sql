-- Region figures: one row per requested local month per region.
with final as (
    select month_date, region, records, subscribers, revenue::double as revenue,
           voice_minutes, sms, data_gb
    from usage_monthly_region
    where month_date in (select unnest($months::date[]))
    order by month_date, region
)
select * from final

-- Service figures: one row per requested local month per service (from the daily cube).
with final as (
    select date_trunc('month', day_date)::date as month_date, service,
           sum(records)::bigint as records, sum(charge)::double as revenue,
           sum(duration_s) / 60.0 as minutes, sum(bytes_up + bytes_down) / 1e9 as data_gb
    from usage_daily_region
    where date_trunc('month', day_date)::date in (select unnest($months::date[]))
    group by all
    order by month_date, service
)
select * from final

-- Month figures that do not add up across regions, per requested local month ($months):
-- distinct subscribers and roaming records (months without records give no row).
with final as (
    select
        month_date,
        count(*)::bigint as subscribers,
        coalesce(sum(roaming_records), 0)::bigint as roaming_records
    from subscriber_month
    where month_date in (select unnest($months::date[]))
    group by month_date
)
select * from final order by month_date

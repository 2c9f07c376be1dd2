-- Month-level totals that do not add up across regions: distinct subscribers and roaming.
with subs as (
    select
        count(*) as subscribers,
        coalesce(sum(roaming_records), 0) as roaming_records,
        coalesce(sum(records), 0) as records
    from subscriber_month
    where month_date = $month
),
final as (
    select * from subs
)
select * from final

-- Billed usage spend per subscriber per month before $month_date (from the subscriber_month
-- cube): one row per msisdn per month, the last $months months only.
with final as (
    select msisdn, month_date, charge
    from subscriber_month
    where month_date < $month_date and month_date >= $since_date
)
select * from final

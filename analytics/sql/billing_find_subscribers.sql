-- Subscribers whose number contains the digits typed: one row per msisdn (first 50).
with known as (
    select msisdn, plan_id from subscribers
    union
    select distinct msisdn, null as plan_id from subscriber_month
),
final as (
    select msisdn, max(plan_id) as plan_id
    from known
    where replace(msisdn, '+', '') like '%' || $digits || '%'
    group by msisdn
    order by msisdn
    limit 50
)
select * from final

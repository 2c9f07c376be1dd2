-- The tariff plan of subscriber $msisdn (every plans column): one row, or none when the
-- number is not in the subscribers reference or its plan is unknown.
with final as (
    select p.*
    from plans p
    join subscribers s using (plan_id)
    where s.msisdn = $msisdn
)
select * from final

-- The tariff plans reference (plans.csv as loaded), one row per plan, in plan order.
with final as (
    select * from plans
)
select * from final order by plan_id

-- The subscribers reference (subscribers.csv as loaded): one row per msisdn with its plan_id.
with final as (
    select msisdn, plan_id from subscribers
)
select * from final

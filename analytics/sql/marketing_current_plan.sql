-- The plan each subscriber is on in a month: the plan of its latest record in the UTC
-- window (the record's own plan_id, else subscribers.plan_id, as rating.resolve_plans).
-- Grain: one row per msisdn with any record in the window.
with
resolved as (
    select
        r.msisdn,
        r.start_at,
        r.record_id,
        coalesce(nullif(trim(r.plan_id), ''), s.plan_id) as plan_id
    from records as r
    left join subscribers as s on s.msisdn = r.msisdn
    where r.start_at >= $start_at::timestamp
      and r.start_at < $end_at::timestamp
),

final as (
    select msisdn, arg_max(plan_id, (start_at, record_id)) as current_plan
    from resolved
    group by msisdn
)

select * from final order by msisdn

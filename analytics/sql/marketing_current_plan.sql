-- The current plan of every subscriber in a UTC window: the resolved plan of its latest
-- record by (start_at, record_id) among records with a plan (record's own plan_id, else
-- subscribers.plan_id, as rating.resolve_plans); null when none has one.
-- Grain: one row per msisdn with any record in the window.
-- One pass: a subscriber with a plan in subscribers takes its very latest record (that
-- record's own plan, else the subscriber's); one without takes its latest record that
-- names a plan itself (arg_max_null: the latest record may name none).
with
latest as (
    select
        msisdn,
        arg_max_null(nullif(trim(plan_id), ''), (start_at, record_id)) as last_plan,
        arg_max(nullif(trim(plan_id), ''), (start_at, record_id))
            filter (where nullif(trim(plan_id), '') is not null) as last_named
    from records
    where start_at >= $start_at::timestamp
      and start_at < $end_at::timestamp
    group by msisdn
),

final as (
    select
        l.msisdn,
        case when s.plan_id is not null then coalesce(l.last_plan, s.plan_id) else l.last_named end as current_plan
    from latest as l
    left join subscribers as s on s.msisdn = l.msisdn
)

select * from final order by msisdn

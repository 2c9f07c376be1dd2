-- The current plan of every subscriber in a UTC window: the resolved plan of its latest
-- record by (start_at, record_id) among records with a plan (record's own plan_id, else
-- subscribers.plan_id, as rating.resolve_plans); null when none has one.
-- Grain: one row per msisdn with any record in the window.
-- Plans are resolved on the latest records only, not on every record: a subscriber with a
-- plan in subscribers takes its very latest record; one without takes its latest record
-- that names a plan itself.
with
latest as (
    select
        msisdn,
        max(start_at) as last_at,
        max(start_at) filter (where nullif(trim(plan_id), '') is not null) as last_named_at
    from records
    where start_at >= $start_at::timestamp
      and start_at < $end_at::timestamp
    group by msisdn
),

targets as (
    select
        l.msisdn,
        s.plan_id as own_plan,
        case when s.plan_id is not null then l.last_at else l.last_named_at end as at
    from latest as l
    left join subscribers as s on s.msisdn = l.msisdn
),

picked as (
    select
        r.msisdn,
        arg_max(coalesce(nullif(trim(r.plan_id), ''), t.own_plan), r.record_id) as current_plan
    from records as r
    join targets as t on t.msisdn = r.msisdn and t.at = r.start_at
    where r.start_at >= $start_at::timestamp
      and r.start_at < $end_at::timestamp
      and coalesce(nullif(trim(r.plan_id), ''), t.own_plan) is not null
    group by r.msisdn
),

final as (
    select t.msisdn, p.current_plan
    from targets as t
    left join picked as p using (msisdn)
)

select * from final order by msisdn

-- Allowance units the month's usage counts under each subscriber's own plan (the rating
-- engine's billable units of domestic voice / sms / data records). Grain: one row per
-- msisdn x resolved plan_id of a chargeable record in the window, plans the engine knows.
-- Parameters: $start_at / $end_at (UTC window), $home_values (raw destination_country
-- values meaning "at home"). Relations: _plan_map (raw record plan_id -> stripped, null
-- when empty), _plans (plan_id) of the plans the engine knows.
-- The units are summed per msisdn x raw record plan first and the plan is resolved on
-- those few rows (record's own, else subscribers.plan_id), not joined to every record.
with
-- the records that cost something under some plan (class > 0); classes 1-3 are the
-- allowance kinds voice, sms, data (rating_class, generated from analytics/tariff.py)
chargeable as (
    select msisdn, raw_plan, class, units
    from (
        select
            r.msisdn,
            r.plan_id as raw_plan,
            {include:rating_class},
            {include:rating_units}
        from records as r
        where r.start_at >= $start_at::timestamp
          and r.start_at < $end_at::timestamp
    )
    where class > 0
),

grouped as (
    select
        msisdn,
        raw_plan,
        coalesce(sum(units) filter (where class = 1), 0) as voice,
        coalesce(sum(units) filter (where class = 2), 0) as sms,
        coalesce(sum(units) filter (where class = 3), 0) as data
    from chargeable
    group by all
),

final as (
    select
        g.msisdn,
        coalesce(m.plan_id, s.plan_id) as plan_id,
        sum(g.voice) as voice,
        sum(g.sms) as sms,
        sum(g.data) as data
    from grouped as g
    left join _plan_map as m on m.raw = g.raw_plan
    left join subscribers as s on s.msisdn = g.msisdn
    semi join _plans as p on p.plan_id = coalesce(m.plan_id, s.plan_id)
    group by all
)

select * from final

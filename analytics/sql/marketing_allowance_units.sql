-- Allowance units the month's usage counts under each subscriber's own plan (the rating
-- engine's billable units of domestic voice / sms / data records). Grain: one row per
-- msisdn x resolved plan_id of a chargeable record in the window, plans the engine knows.
-- Parameters: $start_at / $end_at (UTC window), $home_values (raw destination_country
-- values meaning "at home"). Relations: _plan_map (raw record plan_id -> stripped, null
-- when empty), _plans (plan_id) of the plans the engine knows.
with
chargeable as (
    select
        r.msisdn,
        coalesce(m.plan_id, s.plan_id) as plan_id,
        {include:rating_allowance_class},
        {include:rating_units}
    from records as r
    left join _plan_map as m on m.raw = r.plan_id
    left join subscribers as s on s.msisdn = r.msisdn
    where r.start_at >= $start_at::timestamp
      and r.start_at < $end_at::timestamp
      and not {include:rating_free_record}
),

final as (
    select
        c.msisdn,
        c.plan_id,
        coalesce(sum(c.units) filter (where c.class = 1), 0) as voice,
        coalesce(sum(c.units) filter (where c.class = 2), 0) as sms,
        coalesce(sum(c.units) filter (where c.class = 3), 0) as data
    from chargeable as c
    semi join _plans as p on p.plan_id = c.plan_id
    group by all
)

select * from final

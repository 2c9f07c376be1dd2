-- Usage cost of every subscriber's month under every plan, by exact aggregated re-rating
-- (the rating engine's rules, see analytics/marketing/recommend.py). Grain of the result:
-- one row per msisdn with a chargeable record in the window x plan of _plan_rates.
-- Parameters: $start_at / $end_at (UTC window of one local month), $home_values (raw
-- destination_country values that mean "at home"). Relation _plan_rates: one row per plan
-- x rate class (plan_id, class, incl, rate_e4, order_free); classes 1-3 spend an allowance,
-- 4 and up are paid for every unit, 0 is free ({include:rating_class}: analytics/tariff.py).
-- $msisdn_from / $msisdn_to: the batch of subscribers [from, to) (null = unbounded); every
-- cost is per msisdn, so batches give the one-pass rows (smaller hash tables and sorts).
with
base as (
    select msisdn, start_at, record_id, class, units
    from (
        select
            msisdn,
            start_at,
            record_id,
            {include:rating_class},
            {include:rating_units}
        from records
        where start_at >= $start_at::timestamp and start_at < $end_at::timestamp
          and ($msisdn_from::varchar is null or msisdn >= $msisdn_from::varchar)
          and ($msisdn_to::varchar is null or msisdn < $msisdn_to::varchar)
    )
    where class > 0
),

-- allowance units the month's domestic usage needs, per msisdn x allowance class
totals as (
    select msisdn, class, sum(units) as total
    from base
    where class <= 3
    group by all
),

-- pay-as-you-go records (few): one row per msisdn x class x billable units of a record
counts as (
    select msisdn, class, units, count(*) as n
    from base
    where class >= 4
    group by all
),

-- pay-as-you-go classes: every record rounded on its own, records grouped by their units
paygo as (
    select c.msisdn, p.plan_id, sum(c.n * ((c.units * p.rate_e4 + 50) // 100)) as cents, false as exceeded
    from counts as c
    join _plan_rates as p on p.class = c.class
    where c.class >= 4
    group by all
),

-- allowance classes: the units beyond the allowance; exact from the total when the price
-- of a unit is a whole number of cents (or the unit is one message)
allowance as (
    select
        t.msisdn,
        p.plan_id,
        case when p.order_free then greatest(t.total - p.incl, 0) * ((p.rate_e4 + 50) // 100) else 0 end as cents,
        t.total > p.incl as exceeded
    from totals as t
    join _plan_rates as p on p.class = t.class
),

-- otherwise each record's paid units are rounded on their own, which depends on the
-- order the allowance is spent in: only windows past some such plan's allowance
ordered_windows as (
    select t.msisdn, t.class
    from totals as t
    join _plan_rates as p on p.class = t.class and not p.order_free and t.total > p.incl
    group by all
),

cumulative as (
    select
        b.msisdn,
        b.class,
        b.units,
        sum(b.units) over (
            partition by b.msisdn, b.class order by b.start_at, b.record_id
            rows between unbounded preceding and current row
        ) as used_after
    from base as b
    semi join ordered_windows as w on w.msisdn = b.msisdn and w.class = b.class
),

ordered as (
    select
        c.msisdn,
        p.plan_id,
        sum((least(c.units, c.used_after - p.incl) * p.rate_e4 + 50) // 100) as cents,
        false as exceeded
    from cumulative as c
    join _plan_rates as p on p.class = c.class and not p.order_free and c.used_after > p.incl
    group by all
),

costs as (
    select msisdn, plan_id, sum(cents) as cents, bool_or(exceeded) as exceeded
    from (
        select * from paygo
        union all
        select * from allowance
        union all
        select * from ordered
    )
    group by all
),

units as (
    select
        msisdn,
        coalesce(sum(total) filter (where class = 1), 0) as voice_units,
        coalesce(sum(total) filter (where class = 2), 0) as sms_units,
        coalesce(sum(total) filter (where class = 3), 0) as data_units
    from totals
    group by msisdn
),

final as (
    select
        c.msisdn,
        c.plan_id,
        c.cents,
        c.exceeded,
        coalesce(u.voice_units, 0) as voice_units,
        coalesce(u.sms_units, 0) as sms_units,
        coalesce(u.data_units, 0) as data_units
    from costs as c
    left join units as u using (msisdn)
)

select * from final

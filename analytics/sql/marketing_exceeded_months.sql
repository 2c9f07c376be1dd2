-- Months in which some allowance of the subscriber's own plan ran out (an *_overage rule
-- fired under the rating engine), counted per (local month, plan) as the engine groups them.
-- Grain: one row per msisdn whose own plan's allowance ran out at least once in the window.
-- Parameters: $start_at / $end_at (UTC window), $tz and the local clock (marketing_local_at.sql), $home_values (raw destination_country
-- values meaning "at home"). Relations: _plan_map (raw record plan_id -> stripped, null when
-- empty), _plan_incl (plan_id, class 1-3, incl) of the plans the engine knows.
-- $msisdn_from / $msisdn_to: the batch of subscribers [from, to) (null = unbounded).
with
-- the records that spend an allowance: classes 1-3 (voice, sms, data) of rating_class,
-- generated from the tariff rules (analytics/tariff.py)
chargeable as (
    select *
    from (
        select
            r.msisdn,
            r.plan_id as raw_plan,
            r.start_at,
            r.record_id,
            date_trunc('month', {include:marketing_local_at})::date as month_date,
            {include:rating_class},
            {include:rating_units}
        from records as r
        where r.start_at >= $start_at::timestamp
          and r.start_at < $end_at::timestamp
          and ($msisdn_from::varchar is null or r.msisdn >= $msisdn_from::varchar)
          and ($msisdn_to::varchar is null or r.msisdn < $msisdn_to::varchar)
    )
    where class between 1 and 3
),

-- allowance units per subscriber-month x allowance class x record plan, the plan resolved
-- (record's own, else subscribers.plan_id) on these few rows rather than on every record;
grouped as (
    select msisdn, month_date, class, raw_plan, sum(units) as total
    from chargeable
    group by all
),

known as (
    select g.msisdn, g.month_date, g.class, p.plan_id, p.incl, g.total
    from grouped as g
    left join _plan_map as m on m.raw = g.raw_plan
    left join subscribers as s on s.msisdn = g.msisdn
    join _plan_incl as p on p.plan_id = coalesce(m.plan_id, s.plan_id) and p.class = g.class
),

windows as (
    select msisdn, month_date, class, count(distinct plan_id) as plans, sum(total) as total,
           any_value(plan_id) as plan_id, any_value(incl) as incl
    from known
    group by all
),

-- one plan in the window: an allowance ran out exactly when the total exceeds it
single as (
    select msisdn, month_date, plan_id
    from windows
    where plans = 1 and total > incl
),

-- plans changed within the window: each record against its own plan, in record order
mixed_records as (
    select c.msisdn, c.month_date, c.class, c.start_at, c.record_id, c.units, p.plan_id, p.incl
    from chargeable as c
    semi join windows as w
        on w.msisdn = c.msisdn and w.month_date = c.month_date and w.class = c.class and w.plans > 1
    left join _plan_map as m on m.raw = c.raw_plan
    left join subscribers as s on s.msisdn = c.msisdn
    join _plan_incl as p on p.plan_id = coalesce(m.plan_id, s.plan_id) and p.class = c.class
),

mixed as (
    select msisdn, month_date, plan_id, units, incl,
           sum(units) over (
               partition by msisdn, month_date, class order by start_at, record_id
               rows between unbounded preceding and current row
           ) as used_after
    from mixed_records
),

exceeded as (
    select msisdn, month_date, plan_id from single
    union
    select msisdn, month_date, plan_id from mixed where units > 0 and used_after > incl
),

final as (
    select msisdn, count(*) as months_exceeded
    from exceeded
    group by msisdn
)

select * from final

-- The usage spike's inputs, spliced into fraud_spike.sql and fraud_spike_tails.sql (not a
-- query: CTEs after `with`): the examined span (bounds), each line's usage per local day
-- (daily) and each line's first day and peer group, its plan (line_groups). Params: $since,
-- $tz, $baseline_days.
bounds as (
    select
        coalesce($since::timestamp, '-infinity'::timestamp) as since_at,
        case when $since::timestamp is null then date '0001-01-01'
             else (($since::timestamp at time zone 'UTC') at time zone $tz)::date end as since_date
),

daily as (
    select
        r.msisdn,
        ((r.start_at at time zone 'UTC') at time zone $tz)::date as day_date,
        coalesce(sum(r.duration_s) filter (where r.service = 'voice' and r.direction = 'out'), 0) / 60.0 as voice_min,
        count(*) filter (where r.service in ('sms', 'mms') and r.direction = 'out') as texts,
        coalesce(sum(r.bytes_up + r.bytes_down) filter (where r.service in ('data', 'voip', 'video')), 0) / 1e6 as data_mb,
        min(r.start_at) as first_at,
        max(r.start_at) as last_at,
        mode(r.region) as region,
        mode(r.plan_id) as plan_id
    from records r, bounds b
    where r.start_at >= b.since_at - to_days($baseline_days::integer + 1)
    group by all
),

-- grain: one row per line: its first day in the examined span and its peer group (plan)
line_groups as (
    select
        d.msisdn,
        min(d.day_date) as first_day,
        coalesce(mode(d.plan_id), any_value(s.plan_id), '') as peer_group
    from daily d
    left join subscribers s on s.msisdn = d.msisdn
    group by d.msisdn
)

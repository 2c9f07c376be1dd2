-- Wangiri: one row per foreign number that rang many distinct subscribers briefly
-- (unanswered or zero duration) within a short window, with the call-backs it drew.
-- A foreign number: `other_party` of incoming voice that, without a leading + or 00, is at
-- least 8 digits, does not start with a single national 0 and does not start with one of
-- the home calling codes. A ringing wave is a run of such calls from one number with gaps
-- <= $wave_gap_minutes. Params: $since, $home_codes (list), $wave_gap_minutes, $min_targets,
-- $min_unanswered_share, $max_ring_s, $callback_hours, $max_ids.
with inbound as (
    select
        record_id, start_at, msisdn, other_party, duration_s, disposition, cell_id, region,
        regexp_replace(other_party, '^(\+|00)', '') as number
    from records
    where service = 'voice'
      and direction = 'in'
      and start_at >= coalesce($since::timestamp, '-infinity'::timestamp)
),

foreign_in as (
    select *
    from inbound
    where regexp_full_match(number, '[0-9]{8,}')
      and not (other_party like '0%' and other_party not like '00%')
      and not list_bool_or(list_transform($home_codes::varchar[], lambda c: starts_with(number, c)))
),

waves_marked as (
    select
        *,
        case
            when lag(start_at) over w is null then 1
            when start_at - lag(start_at) over w > to_minutes($wave_gap_minutes::integer) then 1
            else 0
        end as is_wave_start
    from foreign_in
    window w as (partition by number order by start_at, record_id)
),

numbered as (
    select *, sum(is_wave_start) over (partition by number order by start_at, record_id rows unbounded preceding) as wave_no
    from waves_marked
),

waves as (
    select
        number,
        wave_no,
        any_value(other_party) as other_party,
        count(*) as rings,
        count(distinct msisdn) as targets,
        count(*) filter (where disposition <> 'answered' or duration_s = 0) as unanswered,
        max(duration_s) as max_duration_s,
        min(start_at) as first_at,
        max(start_at) as last_at
    from numbered
    group by number, wave_no
    having count(distinct msisdn) >= $min_targets
       and count(*) filter (where disposition <> 'answered' or duration_s = 0) >= $min_unanswered_share * count(*)
       and quantile_cont(duration_s, 0.9) <= $max_ring_s
),

per_number as (
    select
        number,
        any_value(other_party) as other_party,
        count(*) as waves,
        sum(rings) as rings,
        sum(unanswered) as unanswered,
        min(first_at) as first_at,
        max(last_at) as last_at
    from waves
    group by number
),

rung as (
    select n.number, count(distinct r.msisdn) as targets, mode(r.region) as region,
           list(distinct r.cell_id) filter (where r.cell_id is not null) as cell_list,
           list(r.record_id order by r.start_at, r.record_id) as record_ids
    from per_number n
    join numbered r on r.number = n.number and r.start_at between n.first_at and n.last_at
    group by n.number
),

callbacks as (
    select
        n.number,
        count(r.record_id) as callbacks,
        count(distinct r.msisdn) as callback_lines,
        coalesce(sum(r.duration_s), 0) as callback_duration_s,
        coalesce(sum(r.charge), 0) as callback_charge,
        max(r.start_at + to_seconds(r.duration_s)) as last_callback_at,
        list(r.record_id order by r.start_at, r.record_id) filter (where r.record_id is not null) as record_ids
    from per_number n
    left join records r
      on r.service = 'voice'
     and r.direction = 'out'
     and regexp_replace(r.other_party, '^(\+|00)', '') = n.number
     and r.start_at >= n.first_at
     and r.start_at <= n.last_at + to_hours($callback_hours::integer)
    group by n.number
),

final as (
    select
        n.other_party as msisdn,
        g.region,
        n.first_at as first_seen_at,
        greatest(n.last_at, coalesce(c.last_callback_at, n.last_at)) as last_seen_at,
        least(1.0,
            0.5
            + 0.25 * least(1.0, (g.targets / $min_targets - 1) / 4)
            + 0.25 * least(1.0, c.callback_lines / 3.0)
        ) as score,
        '' as key_suffix,
        to_json({
            'rings': n.rings,
            'unanswered': n.unanswered,
            'distinct_targets': g.targets,
            'waves': n.waves,
            'callbacks': c.callbacks,
            'callback_lines': c.callback_lines,
            'callback_minutes': round(c.callback_duration_s / 60.0, 1),
            'callback_charge': c.callback_charge::double,
            'cells': g.cell_list,
            'record_count': len(g.record_ids) + coalesce(len(c.record_ids), 0),
            'record_ids': list_concat(g.record_ids, coalesce(c.record_ids, []))[1:$max_ids]
        }) as evidence,
        n.number
    from per_number n
    join rung g using (number)
    join callbacks c using (number)
)

select * from final

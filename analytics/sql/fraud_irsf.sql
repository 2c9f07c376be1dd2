-- IRSF: one row per burst of outgoing voice calls to high-risk destinations (a burst is a
-- run of such calls of one line with gaps <= $burst_gap_minutes) that is long, and unusual
-- for the line (its high-risk minutes in the $baseline_days before the burst are a small
-- fraction of the burst). Params: $since, $countries (list), $burst_gap_minutes, $min_calls,
-- $min_minutes, $baseline_days, $unusual_factor, $night_start_hour, $night_end_hour, $tz, $max_ids.
with high_risk as (
    select record_id, start_at, msisdn, other_party, destination_country, duration_s, cell_id, region,
           disposition, is_roaming
    from records
    where service = 'voice'
      and direction = 'out'
      and list_contains($countries::varchar[], destination_country)
),

examined as (
    select
        *,
        hour((start_at at time zone 'UTC') at time zone $tz) as local_hour,
        case
            when lag(start_at) over w is null then 1
            when start_at - lag(start_at) over w > to_minutes($burst_gap_minutes::integer) then 1
            else 0
        end as is_burst_start
    from high_risk
    where start_at >= coalesce($since::timestamp, '-infinity'::timestamp)
    window w as (partition by msisdn order by start_at, record_id)
),

numbered as (
    select *, sum(is_burst_start) over (partition by msisdn order by start_at, record_id rows unbounded preceding) as burst_no
    from examined
),

bursts as (
    select
        msisdn,
        burst_no,
        count(*) as calls,
        count(*) filter (where duration_s > 0) as answered_calls,
        sum(duration_s) as duration_s,
        count(distinct other_party) as numbers,
        list(distinct other_party) as number_list,
        list(distinct destination_country) as countries,
        count(*) filter (where
            case when $night_start_hour::integer <= $night_end_hour::integer
                 then local_hour >= $night_start_hour::integer and local_hour < $night_end_hour::integer
                 else local_hour >= $night_start_hour::integer or local_hour < $night_end_hour::integer end
        ) as night_calls,
        bool_or(is_roaming) as any_roaming,
        min(start_at) as first_seen_at,
        max(start_at + to_seconds(duration_s)) as last_seen_at,
        mode(region) as region,
        list(distinct cell_id) filter (where cell_id is not null) as cell_list,
        list(record_id order by start_at, record_id) as record_ids
    from numbered
    group by msisdn, burst_no
    having count(*) >= $min_calls and sum(duration_s) >= 60 * $min_minutes
),

prior as (
    select b.msisdn, b.burst_no, count(h.record_id) as prior_calls, coalesce(sum(h.duration_s), 0) as prior_duration_s
    from bursts b
    left join high_risk h
      on h.msisdn = b.msisdn
     and h.start_at < b.first_seen_at
     and h.start_at >= b.first_seen_at - to_days($baseline_days::integer)
    group by b.msisdn, b.burst_no
),

final as (
    select
        b.msisdn,
        b.region,
        b.first_seen_at,
        b.last_seen_at,
        least(1.0,
            0.5
            + 0.2 * least(1.0, (b.duration_s / (60.0 * $min_minutes) - 1) / 3)
            + 0.15 * (b.night_calls / b.calls)
            + 0.15 * (p.prior_calls = 0)::integer
        ) as score,
        strftime((b.first_seen_at at time zone 'UTC') at time zone $tz, '%Y-%m-%d') as key_suffix,
        to_json({
            'calls': b.calls,
            'answered_calls': b.answered_calls,
            'minutes': round(b.duration_s / 60.0, 1),
            'distinct_contacts': b.numbers,
            'contacts': b.number_list[1:50],
            'destinations': b.countries,
            'night_calls': b.night_calls,
            'roaming': b.any_roaming,
            'prior_calls': p.prior_calls,
            'prior_minutes': round(p.prior_duration_s / 60.0, 1),
            'baseline_days': $baseline_days::integer,
            'cells': b.cell_list,
            'record_count': len(b.record_ids),
            'record_ids': b.record_ids[1:$max_ids]
        }) as evidence
    from bursts b
    join prior p using (msisdn, burst_no)
    where b.duration_s >= $unusual_factor * p.prior_duration_s / $baseline_days
)

select * from final

-- Usage spike: one row per episode (run of consecutive elevated local days) of a line whose
-- daily usage is far above what it, or (without history) its peer group, usually does.
-- Daily usage per metric (voice_min: outgoing connected voice minutes; texts: outgoing
-- sms+mms; data_mb: bytes_up+bytes_down of data, voip and video / 1e6).
--   own level  = the line's "usual high day": the k-th largest of its calendar days (days
--                without records count as 0) in the $baseline_days before, k = ceil((1 -
--                $own_quantile) * n), n = those days since the line's first record;
--   peer level = $peer_quantile of the active line-days of lines on the same plan (records'
--                plan_id, else subscribers.plan_id), or of all lines when the plan has fewer
--                than $min_peer_lines lines: used while n < $min_baseline_days for a new line
--                (first seen after the examined span starts); an older line with n <
--                $min_baseline_days (the span's first days) is not judged.
-- A day is elevated on a metric when x >= $burst_<metric> (absolute floor per day) and
-- x >= $min_ratio * greatest(level, $floor_<metric>). Consecutive elevated days form an
-- episode; it alerts when it lasts >= $min_burst_days days, or when one day reaches the
-- single-day floor $min_<metric> (a one-off big download stays below it). With $since, only
-- days from its local date on are alerted; elevated days just before it count towards the
-- burst's length (a two-day burst across two incremental runs is still a burst).
-- Params: $since, $tz, $baseline_days, $min_baseline_days, $own_quantile, $peer_quantile,
-- $min_peer_lines, $min_ratio, $min_burst_days, $min_voice_min, $min_texts, $min_data_mb,
-- $burst_voice_min, $burst_texts, $burst_data_mb, $floor_voice_min, $floor_texts,
-- $floor_data_mb, $max_ids.
-- $peers and $start_day: null on one machine; given to a cluster share (see lines and peers).
with
{include:fraud_spike_base},

-- grain: one row per line: whether it is new (first seen after the span starts: a line
-- already there on the first day has a history we cannot see). $start_day: the first day
-- of all the data's daily rows, when a cluster share runs this (null: this query's own).
lines as (
    select l.*, l.first_day > coalesce($start_day::date, (select min(day_date) from daily)) as is_new
    from line_groups l
),

-- grain: one row per peer group (plus '*' = every line): the usual heavy line-day; on a
-- cluster share, $peers (JSON: analytics/fraud/spike.py's peers_from_tails) holds them,
-- computed from every share's line-days
computed_peers as (
    select
        coalesce(l.peer_group, '*') as peer_group,
        count(distinct d.msisdn) as peer_lines,
        quantile_cont(d.voice_min, $peer_quantile) as voice_peer,
        quantile_cont(d.texts, $peer_quantile) as texts_peer,
        quantile_cont(d.data_mb, $peer_quantile) as data_peer
    from daily d
    join lines l using (msisdn)
    group by grouping sets ((l.peer_group), ())
),

peers as (
    select * from computed_peers where $peers is null
    union all
    select unnest(
        from_json(
            coalesce($peers::varchar, '[]'),  -- a typed string also when $peers is null
            '[{"peer_group": "VARCHAR", "peer_lines": "BIGINT", "voice_peer": "DOUBLE", "texts_peer": "DOUBLE", "data_peer": "DOUBLE"}]'
        ),
        recursive := true
    )
    where $peers is not null
),

-- only days above an absolute floor per day can be elevated: baseline those alone. Days
-- before $since are judged too, but only to count towards a burst that goes on after it.
candidates as (
    select d.*, l.first_day, l.is_new, l.peer_group, d.day_date >= b.since_date as in_scope,
           least(date_diff('day', l.first_day, d.day_date), $baseline_days::integer) as history_days
    from daily d
    join lines l using (msisdn), bounds b
    where d.voice_min >= $burst_voice_min or d.texts >= $burst_texts or d.data_mb >= $burst_data_mb
),

own as (
    select
        c.msisdn,
        c.day_date,
        list_sort(list(h.voice_min) filter (where h.day_date is not null), 'DESC') as voice_hist,
        list_sort(list(h.texts::double) filter (where h.day_date is not null), 'DESC') as texts_hist,
        list_sort(list(h.data_mb) filter (where h.day_date is not null), 'DESC') as data_hist
    from candidates c
    left join daily h
      on h.msisdn = c.msisdn
     and h.day_date < c.day_date
     and h.day_date >= c.day_date - to_days($baseline_days::integer)
    group by c.msisdn, c.day_date
),

levels as (
    select
        c.*,
        c.history_days >= $min_baseline_days as has_history,
        greatest(1, ceil((1 - $own_quantile) * c.history_days))::integer as k,
        coalesce(p.voice_peer, g.voice_peer) as voice_peer,
        coalesce(p.texts_peer, g.texts_peer) as texts_peer,
        coalesce(p.data_peer, g.data_peer) as data_peer,
        o.voice_hist,
        o.texts_hist,
        o.data_hist
    from candidates c
    join own o using (msisdn, day_date)
    left join peers p on p.peer_group = c.peer_group and p.peer_lines >= $min_peer_lines
    join peers g on g.peer_group = '*'
),

scored as (
    select
        *,
        case when has_history then coalesce(voice_hist[k], 0) else voice_peer end as voice_level,
        case when has_history then coalesce(texts_hist[k], 0) else texts_peer end as texts_level,
        case when has_history then coalesce(data_hist[k], 0) else data_peer end as data_level
    from levels
    where has_history or is_new  -- too little history and not new: not judged yet
),

flagged as (
    select
        *,
        voice_min / greatest(voice_level, $floor_voice_min) as voice_ratio,
        texts / greatest(texts_level, $floor_texts) as texts_ratio,
        data_mb / greatest(data_level, $floor_data_mb) as data_ratio,
        voice_min >= $burst_voice_min and voice_min >= $min_ratio * greatest(voice_level, $floor_voice_min) as voice_hit,
        texts >= $burst_texts and texts >= $min_ratio * greatest(texts_level, $floor_texts) as texts_hit,
        data_mb >= $burst_data_mb and data_mb >= $min_ratio * greatest(data_level, $floor_data_mb) as data_hit
    from scored
),

hits as (
    select
        *,
        greatest(
            case when voice_hit then voice_ratio else 0 end,
            case when texts_hit then texts_ratio else 0 end,
            case when data_hit then data_ratio else 0 end
        ) as ratio,
        (voice_hit and voice_min >= $min_voice_min) or (texts_hit and texts >= $min_texts)
            or (data_hit and data_mb >= $min_data_mb) as is_big_day,
        list_filter(['voice_min', 'texts', 'data_mb'], lambda m:
            (m = 'voice_min' and voice_hit) or (m = 'texts' and texts_hit) or (m = 'data_mb' and data_hit)
        ) as day_metrics,
        day_date - to_days(row_number() over (partition by msisdn order by day_date)::integer) as island
    from flagged
    where voice_hit or texts_hit or data_hit
),

episodes as (
    select
        msisdn,
        island,
        min(day_date) filter (where in_scope) as first_day,
        count(*) as days,
        count(*) filter (where not in_scope) as days_before_since,
        max(ratio) filter (where in_scope) as max_ratio,
        bool_and(has_history) filter (where in_scope) as own_baseline,
        any_value(peer_group) as peer_group,
        min(first_at) filter (where in_scope) as first_seen_at,
        max(last_at) as last_seen_at,
        mode(region) as region,
        list_distinct(flatten(list(day_metrics))) as metrics,
        list({'day': strftime(day_date, '%Y-%m-%d'), 'voice_min': round(voice_min, 1), 'texts': texts,
              'data_mb': round(data_mb, 1), 'voice_level': round(voice_level, 1), 'texts_level': round(texts_level, 1),
              'data_level': round(data_level, 1), 'baseline': case when has_history then 'own' else 'peer' end,
              'history_days': history_days, 'ratio': round(ratio, 1)}
             order by day_date) as days_detail
    from hits
    group by msisdn, island
    having bool_or(in_scope) and (count(*) >= $min_burst_days or bool_or(is_big_day))
),

behind as (
    select e.msisdn, e.island, list(distinct r.cell_id) filter (where r.cell_id is not null) as cell_list,
           count(*) as record_count,
           list(r.record_id order by r.start_at, r.record_id) as record_ids
    from episodes e
    join records r
      on r.msisdn = e.msisdn
     and r.start_at between e.first_seen_at and e.last_seen_at
    group by e.msisdn, e.island
),

final as (
    select
        e.msisdn,
        e.region,
        e.first_seen_at,
        e.last_seen_at,
        least(1.0, 0.5 + 0.3 * least(1.0, ln(e.max_ratio / $min_ratio) / ln(10))
                       + 0.2 * least(1.0, (e.days - 1) / 2.0)) as score,
        strftime(e.first_day, '%Y-%m-%d') as key_suffix,
        to_json({
            'metrics': e.metrics,
            'days': e.days,
            'days_before_since': e.days_before_since,
            'max_ratio': round(e.max_ratio, 1),
            'baseline': case when e.own_baseline then 'own' else 'peer' end,
            'peer_group': e.peer_group,
            'daily': e.days_detail,
            'cells': b.cell_list,
            'record_count': b.record_count,
            'record_ids': b.record_ids[1:$max_ids]
        }) as evidence
    from episodes e
    join behind b using (msisdn, island)
)

select * from final

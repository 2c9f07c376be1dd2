-- Usage spike: one row per episode (run of consecutive flagged local days) of a line whose
-- daily usage is far above its own history. Daily usage per metric (voice_min: outgoing
-- connected voice minutes; texts: outgoing sms+mms; data_mb: bytes_up+bytes_down of data,
-- voip and video / 1e6). For each active day, the baseline is the line's active days in
-- the $baseline_days before it (at least $min_baseline_days of them): robust z =
-- (x - median) / max(1.4826 * MAD, floor, $rel_floor * median). A day is flagged on a metric
-- when z >= $z_threshold, x >= $min_ratio * median and x >= that metric's absolute minimum.
-- Params: $since, $tz, $baseline_days, $min_baseline_days, $z_threshold, $min_ratio,
-- $rel_floor, $min_voice_min, $min_texts, $min_data_mb, $floor_voice_min, $floor_texts,
-- $floor_data_mb, $max_ids.
with bounds as (
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
        mode(r.region) as region
    from records r, bounds b
    where r.start_at >= b.since_at - to_days($baseline_days::integer + 1)
    group by all
),

-- only days above an absolute minimum can be flagged: baseline those alone
candidates as (
    select d.*
    from daily d, bounds b
    where d.day_date >= b.since_date
      and (d.voice_min >= $min_voice_min or d.texts >= $min_texts or d.data_mb >= $min_data_mb)
),

baselined as (
    select
        c.*,
        count(h.day_date) as baseline_days,
        median(h.voice_min) as voice_med,
        mad(h.voice_min) as voice_mad,
        median(h.texts) as texts_med,
        mad(h.texts) as texts_mad,
        median(h.data_mb) as data_med,
        mad(h.data_mb) as data_mad
    from candidates c
    join daily h
      on h.msisdn = c.msisdn
     and h.day_date < c.day_date
     and h.day_date >= c.day_date - to_days($baseline_days::integer)
    group by all
),

scored as (
    select
        *,
        (voice_min - voice_med) / greatest(1.4826 * voice_mad, $floor_voice_min, $rel_floor * voice_med) as voice_z,
        (texts - texts_med) / greatest(1.4826 * texts_mad, $floor_texts, $rel_floor * texts_med) as texts_z,
        (data_mb - data_med) / greatest(1.4826 * data_mad, $floor_data_mb, $rel_floor * data_med) as data_z
    from baselined
    where baseline_days >= $min_baseline_days
),

flagged as (
    select
        *,
        voice_z >= $z_threshold and voice_min >= $min_ratio * voice_med and voice_min >= $min_voice_min as voice_hit,
        texts_z >= $z_threshold and texts >= $min_ratio * texts_med and texts >= $min_texts as texts_hit,
        data_z >= $z_threshold and data_mb >= $min_ratio * data_med and data_mb >= $min_data_mb as data_hit
    from scored
),

hits as (
    select
        *,
        greatest(
            case when voice_hit then voice_z else 0 end,
            case when texts_hit then texts_z else 0 end,
            case when data_hit then data_z else 0 end
        ) as z,
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
        min(day_date) as first_day,
        max(day_date) as last_day,
        count(*) as days,
        max(z) as max_z,
        min(first_at) as first_seen_at,
        max(last_at) as last_seen_at,
        mode(region) as region,
        list_distinct(flatten(list(day_metrics))) as metrics,
        list({'day': strftime(day_date, '%Y-%m-%d'), 'voice_min': round(voice_min, 1), 'texts': texts,
              'data_mb': round(data_mb, 1), 'voice_median': round(voice_med, 1), 'texts_median': texts_med,
              'data_median': round(data_med, 1), 'z': round(z, 1), 'baseline_days': baseline_days}
             order by day_date) as days_detail
    from hits
    group by msisdn, island
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
        least(1.0, 0.5 + 0.5 * (1 - $z_threshold / e.max_z)) as score,
        strftime(e.first_day, '%Y-%m-%d') as key_suffix,
        to_json({
            'metrics': e.metrics,
            'days': e.days,
            'max_z': round(e.max_z, 1),
            'daily': e.days_detail,
            'cells': b.cell_list,
            'record_count': b.record_count,
            'record_ids': b.record_ids[1:$max_ids]
        }) as evidence
    from episodes e
    join behind b using (msisdn, island)
)

select * from final

-- Live KPI building blocks: one row per window x week_offset x level x region x cell.
--   window      the sliding window (name + length in seconds), ending at $as_of (inclusive)
--   week_offset 0 = the current window; k >= 1 = the same window shifted back k whole weeks
--               (same hour-of-week), the history the expected band is computed from
--   level       'network' (region = cell_id = null), 'region' (cell_id = null) or 'cell'
-- A record belongs to window w at offset k when 0 <= ($as_of - k weeks) - start_at < w,
-- i.e. to the half-open interval (as_of - k weeks - w, as_of - k weeks].
with windows as (
    select unnest($window_names::varchar[]) as window_name,
           unnest($window_s::bigint[]) as window_s
),
bounds as (
    select cast($as_of as timestamp) as as_of_at,
           (select max(window_s) from windows) as max_window_s
),
recent as (
    select r.region,
           coalesce(r.cell_id, '') as cell_id,
           r.msisdn,
           r.service,
           r.direction,
           r.disposition,
           r.duration_s,
           r.bytes_up + r.bytes_down as bytes,
           epoch(b.as_of_at) - epoch(r.start_at) as age_s
    from records r, bounds b
    where r.start_at <= b.as_of_at
      and r.start_at > b.as_of_at - to_seconds(cast($weeks * 604800 + b.max_window_s as double))
),
placed as (
    select *,
           cast(floor(age_s / 604800) as integer) as week_offset,
           age_s - 604800 * floor(age_s / 604800) as age_in_week_s
    from recent
),
tagged as (
    select w.window_name, w.window_s, p.*
    from placed p
    join windows w on p.age_in_week_s < w.window_s
    where p.week_offset <= $weeks
),
final as (
    select window_name,
           week_offset,
           case when grouping(region) = 1 then 'network'
                when grouping(cell_id) = 1 then 'region'
                else 'cell' end as level,
           case when grouping(region) = 1 then null else region end as region,
           case when grouping(cell_id) = 1 then null else cell_id end as cell_id,
           count(*) as records,
           count(*) filter (where service = 'voice' and direction = 'out') as attempts,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition in ('answered', 'dropped')) as connected,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition in ('no_answer', 'busy')) as reached_unanswered,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition = 'failed') as failed,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition = 'dropped') as dropped,
           coalesce(sum(duration_s) filter (where service = 'voice' and direction = 'out'
                            and disposition in ('answered', 'dropped')), 0) as connected_s,
           count(*) filter (where service in ('sms', 'mms')) as sms,
           coalesce(sum(bytes) filter (where service in ('data', 'voip', 'video')), 0) as data_bytes,
           count(distinct msisdn) as active_subscribers
    from tagged
    group by grouping sets (
        (window_name, week_offset),
        (window_name, week_offset, region),
        (window_name, week_offset, region, cell_id)
    )
)
select * from final

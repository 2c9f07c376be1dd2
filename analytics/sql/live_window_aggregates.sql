-- Live KPI building blocks: one row per window x week_offset x level x region x cell.
--   window      the sliding window (name + length in seconds) ending at week_ends[1] (= as_of)
--   week_offset 0 = the current window; k >= 1 = the same window ending at week_ends[k + 1],
--               i.e. k weeks earlier on the local wall clock (same local hour-of-week, so a
--               DST change does not shift the comparison by an hour)
--   level       'network' (region = cell_id = null), 'region' (cell_id = null) or 'cell'
-- A record belongs to window w at offset k when end_k - w < start_at <= end_k.
with windows as (
    select unnest($window_names::varchar[]) as window_name,
           unnest($window_s::bigint[]) as window_s
),
offsets as (
    select unnest(range(0, len($week_ends::timestamp[]))) as week_offset,
           unnest($week_ends::timestamp[]) as end_at
),
shifted as (
    select w.window_name, o.week_offset, o.end_at,
           o.end_at - to_seconds(cast(w.window_s as double)) as start_at
    from windows w cross join offsets o
),
tagged as (
    select s.window_name, cast(s.week_offset as integer) as week_offset,
           r.region, coalesce(r.cell_id, '') as cell_id, r.msisdn, r.service, r.direction,
           r.disposition, r.duration_s, r.bytes_up + r.bytes_down as bytes
    from records r
    join shifted s on r.start_at > s.start_at and r.start_at <= s.end_at
    where r.start_at > cast($from_at as timestamp)   -- the span of all windows, as constants
      and r.start_at <= cast($to_at as timestamp)      -- so the scan can skip row groups
),
final as (
    select window_name,
           week_offset,
           case when grouping(region) = 1 then 'network'
                when grouping(cell_id) = 1 then 'region'
                else 'cell' end as level,
           case when grouping(region) = 1 then null else region end as region,
           case when grouping(cell_id) = 1 then null else cell_id end as cell_id,
           {include:live_kpi_aggregates}
    from tagged
    group by grouping sets (
        (window_name, week_offset),
        (window_name, week_offset, region),
        (window_name, week_offset, region, cell_id)
    )
)
select * from final

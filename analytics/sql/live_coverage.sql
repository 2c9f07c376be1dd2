-- Which shifted windows the warehouse actually holds data for: one row per window x
-- week_offset. A past week counts as history only when the loaded data starts before
-- the shifted window and at least one record (any region) falls inside it; otherwise a
-- week that was simply never loaded would look like a network-wide outage.
with windows as (
    select unnest($window_names::varchar[]) as window_name,
           unnest($window_s::bigint[]) as window_s
),
offsets as (
    select unnest(range(0, len($week_ends::timestamp[]))) as week_offset,
           unnest($week_ends::timestamp[]) as end_at
),
shifted as (
    select w.window_name, w.window_s, o.week_offset, o.end_at
    from windows w cross join offsets o
),
final as (
    select s.window_name, s.week_offset, s.end_at,
           s.end_at - to_seconds(cast(s.window_s as double)) as start_at,
           (select min(start_at) from records) as first_record_at,
           exists (select 1 from records r
                   where r.start_at > s.end_at - to_seconds(cast(s.window_s as double))
                     and r.start_at <= s.end_at) as has_records
    from shifted s
)
select * from final

-- Stored incidents overlapping [$from_at, $to_at): one row per incident, newest first.
with final as (
    select *
    from incidents
    where start_at < cast($to_at as timestamp) and end_at > cast($from_at as timestamp)
      and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], region))
)
select * from final order by start_at desc, level, region, cell_id

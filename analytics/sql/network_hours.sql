-- quality_hourly_cell rows of the UTC hours in [$from_at, $to_at): one row per hour x region x cell.
with final as (
    select *
    from quality_hourly_cell
    where hour_at >= cast($from_at as timestamp) and hour_at < cast($to_at as timestamp)
      and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], region))
)
select * from final order by hour_at, region, cell_id

-- Records of the UTC month [$from_at, $to_at) loaded after load $after_load_id: how many,
-- and the first one's start_at (where a rebuild of the month's quality rows can start).
with final as (
    select count(*) as added, min(start_at) as first_added_at
    from records
    where start_at >= cast($from_at as timestamp) and start_at < cast($to_at as timestamp)
      and load_id > $after_load_id
)
select * from final

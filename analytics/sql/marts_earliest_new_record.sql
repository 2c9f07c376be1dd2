-- The earliest record start (UTC) among the records of loads $load_ids (a list of load_id):
-- one row, column start_at, null when those loads hold no record.
with final as (
    select min(start_at) as start_at
    from records
    where load_id in (select unnest($load_ids))
)
select * from final

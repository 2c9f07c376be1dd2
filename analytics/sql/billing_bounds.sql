-- First and last record instant (UTC) in the warehouse.
with final as (select min(start_at) as first_at, max(start_at) as last_at from records)
select * from final

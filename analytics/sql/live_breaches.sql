-- The breaches of the previous evaluation: one live_breaches row per region, KPI and window
-- outside its band (direction, since when), in no particular order.
with final as (
    select * from live_breaches
)
select * from final

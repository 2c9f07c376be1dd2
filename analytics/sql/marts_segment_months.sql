-- The stamps of every stored segment report: one segment_months row per month built.
with final as (
    select * from segment_months
)
select * from final

-- The stamps of the stored quality mart: one quality_months row per UTC month built, with
-- the records, max_load_id and options_sha it was built from.
with final as (
    select * from quality_months
)
select * from final

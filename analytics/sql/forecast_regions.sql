-- Every planning region: those of the cell reference and those with traffic (ROAMING).
with regions as (
    select region from cells
    union
    select region from usage_daily_region
    union
    select region from usage_hourly_cell
),
final as (
    select distinct region from regions
)
select * from final order by region

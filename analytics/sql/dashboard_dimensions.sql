-- Filter options: one row per (kind, value); kind is region or service.
with regions as (
    select distinct region as value from usage_daily_region
    union
    select distinct region from cells
),
services as (
    select distinct service as value from usage_daily_region
),
final as (
    select 'region' as kind, value from regions
    union all
    select 'service', value from services
    order by kind, value
)
select * from final

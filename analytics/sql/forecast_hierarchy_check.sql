-- The stored coherent forecasts checked: one row per metric per parent node per day, the
-- parent's forecast beside the sum of its children's (national = sum of regions, region =
-- sum of its cells) and the absolute difference. The Forecasts page shows it.
with regions as (
    select metric, 'national' as level, 'total' as node_id, ds, sum(yhat) as children_yhat, count(*) as children
    from forecast_hierarchy_values where level = 'region'
    group by metric, ds
),
cells as (
    select metric, 'region' as level, region as node_id, ds, sum(yhat) as children_yhat, count(*) as children
    from forecast_hierarchy_values where level = 'cell'
    group by metric, region, ds
),
sums as (
    select * from regions
    union all
    select * from cells
),
final as (
    select s.metric, s.level, s.node_id, s.ds, p.yhat as parent_yhat, s.children_yhat, s.children,
           abs(p.yhat - s.children_yhat) as abs_diff
    from sums as s
    join forecast_hierarchy_values as p
      on p.metric = s.metric and p.level = s.level and p.node_id = s.node_id and p.ds = s.ds
)
select * from final order by metric, level, node_id, ds

-- The largest msisdn among the first $rows records of the range and filters, in file order
-- (one row).
-- Record files are sorted by msisdn, so "msisdn <= cut" is the first row group or so of each
-- month's file: counting the distinct subscribers of that slice per group is a lower bound of
-- each group's count that reads a small share of the records (analytics/dashboard/heatmaps.py).
with params as (
    {include:dashboard_params}
),
first_rows as (
    select r.msisdn
    from records r, params p
    where r.start_at >= p.start_at and r.start_at < p.end_at
      and (len(p.regions) = 0 or list_contains(p.regions, r.region))
      and (len(p.services) = 0 or list_contains(p.services, r.service))
    limit $rows
),
final as (
    select max(msisdn) as cut from first_rows
)
select * from final

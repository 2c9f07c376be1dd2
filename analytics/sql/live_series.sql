-- Sparkline series: one row per time bucket x level ('network' | 'region') x region, over
-- the $span_s seconds ending at $as_of. Bucket b covers (bucket_end_at - bucket, bucket_end_at].
with bounds as (
    select cast($as_of as timestamp) as as_of_at
),
recent as (
    select r.*,
           r.bytes_up + r.bytes_down as bytes,
           cast(floor((epoch(b.as_of_at) - epoch(r.start_at)) / $bucket_s) as bigint) as bucket_no,
           b.as_of_at
    from records r, bounds b
    where r.start_at <= b.as_of_at
      and r.start_at > b.as_of_at - to_seconds(cast($span_s as double))
),
final as (
    select any_value(as_of_at) - to_seconds(cast(bucket_no * $bucket_s as double)) as bucket_end_at,
           case when grouping(region) = 1 then 'network' else 'region' end as level,
           case when grouping(region) = 1 then null else region end as region,
           {include:live_kpi_aggregates}
    from recent
    group by grouping sets ((bucket_no), (bucket_no, region))
)
select * from final order by level, region, bucket_end_at

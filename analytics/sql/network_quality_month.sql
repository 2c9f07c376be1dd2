-- Rebuild of quality_hourly_cell for the UTC hours in [$from_at, $to_at) (one UTC month):
-- one row per hour x region x cell, counted with the live KPIs' definitions.
delete from quality_hourly_cell where hour_at >= cast($from_at as timestamp) and hour_at < cast($to_at as timestamp);

insert into quality_hourly_cell by name
with tagged as (
    select date_trunc('hour', r.start_at) as hour_at,
           r.region, coalesce(r.cell_id, '') as cell_id, r.msisdn, r.service, r.direction,
           r.disposition, r.duration_s, r.bytes_up + r.bytes_down as bytes
    from records r
    where r.start_at >= cast($from_at as timestamp) and r.start_at < cast($to_at as timestamp)
),
final as (
    select hour_at, region, cell_id,
           {include:live_kpi_aggregates},
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition in ('answered', 'dropped')
                            and duration_s < $short_call_s) as short_calls
    from tagged
    group by hour_at, region, cell_id
)
select * from final;

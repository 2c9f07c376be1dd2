-- One subscriber's records in [$start_at, $end_at) that fell inside an incident of their
-- own cell: one row per record x incident.
with sub_records as (
    select r.record_id, r.start_at, r.region, coalesce(r.cell_id, '') as cell_id
    from records r
    where r.msisdn = $msisdn and r.start_at >= $start_at and r.start_at < $end_at
),
final as (
    select s.record_id, i.incident_id, i.cell_id, i.start_at as incident_start_at,
           i.end_at as incident_end_at, i.kpis as incident_kpis
    from sub_records s
    join incidents i on i.level = 'cell' and i.region = s.region and i.cell_id = s.cell_id
                    and s.start_at >= i.start_at and s.start_at < i.end_at
)
select * from final order by record_id, incident_start_at

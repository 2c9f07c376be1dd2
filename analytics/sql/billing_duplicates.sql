-- Duplicates that carried a charge, with the original record's month fields: one row per
-- duplicate row (the same record_id may appear several times).
with dups as (
    select d.load_id, d.source_line, d.record_id, d.msisdn, d.start_at, d.charge
    from duplicates d
    where d.charge is not null
),
final as (
    select d.load_id, d.source_line, d.record_id,
           coalesce(d.msisdn, r.msisdn) as msisdn,
           coalesce(r.start_at, d.start_at) as start_at,
           d.charge, r.service, r.direction, r.region, r.plan_id as record_plan_id
    from dups d
    left join records r using (record_id)
    where coalesce(r.start_at, d.start_at) >= $start_at and coalesce(r.start_at, d.start_at) < $end_at
)
select * from final

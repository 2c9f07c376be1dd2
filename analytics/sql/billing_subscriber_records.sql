-- One subscriber's records in one calendar month (UTC bounds of the local month), with the
-- plan from subscribers.csv alongside: one row per record.
with sub_records as (
    select r.record_id, r.start_at, r.msisdn, r.other_party, r.service, r.direction, r.duration_s,
           r.disposition, r.bytes_up, r.bytes_down, r.is_roaming, r.destination_country,
           r.plan_id, r.region, r.cell_id, r.charge, r.load_id
    from records r
    where r.msisdn = $msisdn and r.start_at >= $start_at and r.start_at < $end_at
),
final as (
    select m.*, s.plan_id as subscriber_plan_id
    from sub_records m
    left join subscribers s using (msisdn)
)
select * from final

-- Records of one calendar month (UTC bounds of the local month), with the plan from
-- subscribers.csv alongside: one row per record.
with month_records as (
    select r.record_id, r.start_at, r.msisdn, r.service, r.direction, r.duration_s,
           r.disposition, r.bytes_up, r.bytes_down, r.is_roaming, r.destination_country,
           r.plan_id, r.region, r.charge
    from records r
    where r.start_at >= $start_at and r.start_at < $end_at
),
final as (
    select m.*, s.plan_id as subscriber_plan_id
    from month_records m
    left join subscribers s using (msisdn)
)
select * from final

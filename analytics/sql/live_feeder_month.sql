-- The demo feeder's billing context: the records of some subscribers since the start of
-- the current local month ($since, UTC), with the rating engine's input columns.
-- One row per record.
with month_records as (
    select record_id, start_at, msisdn, service, direction, duration_s, disposition,
           bytes_up, bytes_down, is_roaming, destination_country, plan_id
    from records
    where start_at >= $since and list_contains($msisdns, msisdn)
),
final as (
    select * from month_records
)
select * from final

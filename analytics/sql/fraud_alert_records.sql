-- The records named by an alert's evidence ($record_ids, a list of record_id): one row per
-- record, in time order (start_at, record_id). A semi join on the ids (a hash probe), not
-- list_contains per row of records.
with ids as (
    select unnest($record_ids::varchar[]) as record_id
),
final as (
    select record_id, start_at, msisdn, other_party, service, direction, duration_s, disposition,
           cell_id, region, destination_country, is_roaming, bytes_up, bytes_down, charge, imei
    from records
    semi join ids using (record_id)
)
select * from final order by start_at, record_id

-- The rating engine's billable units of one record (analytics/rating.py): started minutes
-- of voice, one per sms/mms, started MB (1,000,000 bytes) of bytes_up + bytes_down otherwise.
-- A fragment, spliced into the marketing re-rating queries by store.sql's include.
case
    when service = 'voice' then (duration_s::bigint + 59) // 60
    when service in ('sms', 'mms') then 1
    else (bytes_up + bytes_down + 999999) // 1000000
end as units

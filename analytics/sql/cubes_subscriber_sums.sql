-- The subscriber-month cube's summed measures over rows of load_delta (local month x
-- msisdn x region): not a query, spliced into cubes_months_fresh.sql and
-- cubes_months_merge.sql (store.sql's include), so both paths sum with one definition.
sum(records) as records,
sum(voice_out_s) as voice_out_s,
sum(voice_in_s) as voice_in_s,
sum(voice_calls_out) as voice_calls_out,
sum(voice_calls_in) as voice_calls_in,
sum(sms_out) as sms_out,
sum(sms_in) as sms_in,
sum(data_bytes) as data_bytes,
sum(intl_voice_s) as intl_voice_s,
sum(roaming_records) as roaming_records,
coalesce(sum(charge), 0) as charge

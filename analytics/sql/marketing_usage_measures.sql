-- Fragment (select items over the CTE `base` of marketing_usage_base.sql, grouped by
-- msisdn): the usage indicators except the active days, which the two queries count apart.
count(*) as records,
coalesce(sum(duration_s) filter (where service = 'voice'), 0) / 60.0 as voice_minutes,
coalesce(sum(duration_s) filter (where service = 'voice' and direction = 'out'), 0) / 60.0
    as voice_out_minutes,
count(*) filter (where service in ('sms', 'mms')) as sms,
coalesce(sum(bytes) filter (where service in ('data', 'voip', 'video')), 0) / 1e6 as data_mb,
avg(case when is_roaming then 1.0 else 0.0 end) as roaming_share,
coalesce(
    avg(case when is_abroad then 1.0 else 0.0 end)
        filter (where direction = 'out' and service in ('voice', 'sms', 'mms')),
    0.0) as international_share,
sum(charge) as spend

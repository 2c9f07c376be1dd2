-- Usage indicators of our own. Grain: one row per msisdn with any record in the window.
-- Parameters: $tz and the local clock ($local_cut_*, $local_offset_*: marketing_local_at.sql), $start_at / $end_at (UTC window, null = open), $one_month (the window is one local month), $home (home country).
with
base as (
    select
        msisdn,
        service,
        direction,
        duration_s,
        bytes_up + bytes_down as bytes,
        is_roaming,
        coalesce(nullif(upper(trim(destination_country)), ''), $home) <> $home as is_abroad,
        coalesce(charge, 0) as charge,
        ({include:marketing_local_at})::date as local_date
    from records
    where ($start_at::timestamp is null or start_at >= $start_at::timestamp)
      and ($end_at::timestamp is null or start_at < $end_at::timestamp)
),

final as (
    select
        msisdn,
        count(*) as records,
        -- one month: the local dates as a bit set of its days (no distinct hash per subscriber)
        coalesce(bit_count(bit_or(1::bigint << day(local_date)) filter (where $one_month)), 0)
            + count(distinct local_date) filter (where not $one_month) as usage_active_days,
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
    from base
    group by msisdn
)

select * from final order by msisdn

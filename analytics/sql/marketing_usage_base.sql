-- Fragment (a CTE) shared by marketing_usage.sql and marketing_usage_month.sql: the
-- window's records, one row per record, with the columns the usage indicators read.
-- Parameters: $tz and the local clock ($local_cut_*, $local_offset_*: marketing_local_at.sql),
-- $start_at / $end_at (UTC window, null = open), $home (home country).
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

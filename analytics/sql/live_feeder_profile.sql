-- The demo feeder's traffic profile, learnt from the last $weeks weeks before $end_at:
-- one row per hour-of-week (0 = Monday 00:00 UTC) x region x cell x service x direction,
-- with the mean records per hour and, for the kinds that need them, the disposition mix,
-- mean connected seconds and mean bytes.
with recent as (
    select *
    from records
    where start_at > cast($end_at as timestamp) - to_days(cast($weeks * 7 as integer))
      and start_at <= cast($end_at as timestamp)
      and cell_id is not null and not is_roaming
),
final as (
    select (isodow(start_at) - 1) * 24 + hour(start_at) as hour_of_week,
           region,
           cell_id,
           service,
           direction,
           count(*) / cast($weeks as double) as records_per_hour,
           avg(case when disposition = 'answered' then 1.0 else 0.0 end) as p_answered,
           avg(case when disposition = 'no_answer' then 1.0 else 0.0 end) as p_no_answer,
           avg(case when disposition = 'busy' then 1.0 else 0.0 end) as p_busy,
           avg(case when disposition = 'failed' then 1.0 else 0.0 end) as p_failed,
           avg(case when disposition = 'dropped' then 1.0 else 0.0 end) as p_dropped,
           coalesce(avg(duration_s) filter (where disposition in ('answered', 'dropped')), 0) as mean_duration_s,
           avg(bytes_up) as mean_bytes_up,
           avg(bytes_down) as mean_bytes_down
    from recent
    group by all
)
select * from final

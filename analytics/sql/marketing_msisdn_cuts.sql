-- Batches of the month's per-subscriber queries (analytics/marketing/indicators.py): how many
-- calls and texts (n) and records the window holds, and msisdn cut points at the given fractions of the
-- subscribers table (sorted). Grain: one row. The cuts only balance the batches: the
-- ranges [null, c1), [c1, c2), ..., [ck, null) cover every msisdn whatever they are, so
-- a subscriber missing from `subscribers` still falls in exactly one batch.
-- Parameters: $start_at / $end_at (UTC window), $quantiles (fractions in (0, 1), may be empty).
with
interactions as (
    select count(*) filter (where service in ('voice', 'sms')) as n, count(*) as records
    from records
    where start_at >= $start_at::timestamp
      and start_at < $end_at::timestamp
),

cuts as (
    select
        case when len($quantiles::double[]) > 0 then quantile_disc(msisdn, $quantiles::double[]) end as cuts
    from subscribers
),

final as (
    select i.n, i.records, c.cuts
    from interactions as i
    cross join cuts as c
)

select * from final

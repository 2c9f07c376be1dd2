-- Batches of the month's per-subscriber queries (analytics/marketing/indicators.py): msisdn
-- cut points at the given fractions of the subscribers table (sorted). Grain: one row. The
-- cuts only balance the batches: the ranges [null, c1), [c1, c2), ..., [ck, null) cover
-- every msisdn whatever they are, so a subscriber missing from `subscribers` still falls
-- in exactly one batch. Parameter: $quantiles (fractions in (0, 1), not empty).
with
final as (
    select quantile_disc(msisdn, $quantiles::double[]) as cuts
    from subscribers
)

select * from final

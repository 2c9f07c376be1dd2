-- Usage indicators of one local month. Grain: one row per msisdn with any record in it.
-- Parameters: see marketing_usage_base.sql. Same values as marketing_usage.sql; the active
-- days are a bit set of the month's days (the day of month identifies the local date in
-- one month), so no distinct (msisdn, date) hash table is built: it cost more than all
-- the other measures together (DuckDB builds a distinct aggregate even when a filter
-- would discard it, which is why this is a query of its own).
with
{include:marketing_usage_base}

final as (
    select
        msisdn,
        bit_count(bit_or(1::bigint << day(local_date))) as usage_active_days,
        {include:marketing_usage_measures}
    from base
    group by msisdn
)

select * from final order by msisdn

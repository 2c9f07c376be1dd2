-- Usage indicators of our own. Grain: one row per msisdn with any record in the window.
-- Parameters: see marketing_usage_base.sql. Any window (the whole period too): active days
-- are the distinct local dates. One local month: marketing_usage_month.sql (same values).
with
{include:marketing_usage_base}

final as (
    select
        msisdn,
        count(distinct local_date) as usage_active_days,
        {include:marketing_usage_measures}
    from base
    group by msisdn
)

select * from final order by msisdn

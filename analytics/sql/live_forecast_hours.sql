-- Hourly forecasts (analytics.forecast, freq 'hourly') of the metrics a live KPI matches:
-- one row per region x metric x UTC hour starting in [$from_at, $to_at].
with final as (
    select region, metric, ds, yhat, yhat_lower_95, yhat_upper_95
    from forecast_values
    where freq = 'hourly'
      and metric in ('sms', 'data_gb')
      and ds >= cast($from_at as timestamp)
      and ds <= cast($to_at as timestamp)
)
select * from final

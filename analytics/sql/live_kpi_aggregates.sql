-- The live KPIs' aggregate columns over rows carrying service, direction, disposition,
-- duration_s, bytes (= bytes_up + bytes_down) and msisdn. Not a query: spliced as
-- into live_window_aggregates.sql and live_series.sql (through store.sql's include),
-- so the windows and the sparklines count with one definition.
           count(*) as records,
           count(*) filter (where service = 'voice' and direction = 'out') as attempts,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition in ('answered', 'dropped')) as connected,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition in ('no_answer', 'busy')) as reached_unanswered,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition = 'failed') as failed,
           count(*) filter (where service = 'voice' and direction = 'out'
                            and disposition = 'dropped') as dropped,
           coalesce(sum(duration_s) filter (where service = 'voice' and direction = 'out'
                            and disposition in ('answered', 'dropped')), 0) as connected_s,
           count(*) filter (where service in ('sms', 'mms')) as sms,
           count(*) filter (where service in ('data', 'voip', 'video')) as data_sessions,
           coalesce(sum(bytes) filter (where service in ('data', 'voip', 'video')), 0) as data_bytes,
           count(distinct msisdn) as active_subscribers

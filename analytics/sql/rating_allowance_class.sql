-- Which allowance a record draws on (analytics/rating.py): 1 voice, 2 sms/mms, 3 data;
-- 0 none (roaming, international, incoming, unanswered). $home_values lists the raw
-- destination_country values that mean "at home". A fragment for store.sql's include.
case
    when service = 'voice' and disposition = 'answered' and not is_roaming and direction = 'out'
         and list_contains($home_values, destination_country) then 1
    when service in ('sms', 'mms') and direction = 'out' and not is_roaming
         and list_contains($home_values, destination_country) then 2
    when service in ('data', 'voip', 'video') and not is_roaming then 3
    else 0
end as class

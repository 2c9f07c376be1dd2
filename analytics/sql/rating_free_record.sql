-- Records that cost nothing under any plan (analytics/rating.py): unanswered voice, incoming
-- voice at home, incoming sms/mms. A boolean expression for store.sql's include.
(
    (service = 'voice' and disposition <> 'answered')
    or (service = 'voice' and direction = 'in' and not is_roaming)
    or (service in ('sms', 'mms') and direction = 'in')
)

-- Usage spike on a cluster share: every line-day of the share's lines with its peer group,
-- from which the share's worker keeps the top of each peer group's distribution
-- (analytics/fraud/spike.py's tails). Params: $since, $tz, $baseline_days.
with
{include:fraud_spike_base}
select g.peer_group, d.msisdn, d.day_date, d.voice_min, d.texts, d.data_mb
from daily d
join line_groups g using (msisdn)

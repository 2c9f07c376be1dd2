-- One peer level of the usage spike from a cluster run's shares (analytics/fraud/spike.py's
-- peers_from_tails): $peer_quantile of a group's line-days, given the top $values of the
-- group and $fillers copies of $fill (a value at most the quantile's): the same
-- quantile_cont over the same count of values as one machine computes.
select quantile_cont(x, $peer_quantile) as level
from (
    select unnest($values) as x
    union all
    select $fill from range($fillers)
)

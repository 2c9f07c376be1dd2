-- Fragment: the select of the `params` CTE most dashboard views share: the local days
-- $start..$end (inclusive, zone $tz) as UTC bounds, and the region / service filters
-- (an empty list = all).
select ($start::timestamp at time zone $tz) at time zone 'UTC' as start_at,
       (($end::date + 1)::timestamp at time zone $tz) at time zone 'UTC' as end_at,
       $regions::varchar[] as regions,
       $services::varchar[] as services

-- Fragment (CTEs) shared by the bandicoot indicator queries: the radius of gyration in km
-- of each msisdn's located positions. Needs a CTE `located(msisdn, lat, lon, t)` before it,
-- t = the number of positions at that location.
barycenters as (
    select msisdn, sum(lat * t) / sum(t) as b_lat, sum(lon * t) / sum(t) as b_lon, sum(t) as w
    from located
    group by msisdn
),

gyration as (
    select
        l.msisdn,
        sqrt(sum(l.t / b.w * power(
            2 * 6371.0 * asin(sqrt(
                power(sin(radians(b.b_lat - l.lat) / 2), 2)
                + cos(radians(b.b_lat)) * cos(radians(l.lat)) * power(sin(radians(b.b_lon - l.lon) / 2), 2)
            )), 2))) as radius_of_gyration
    from located as l
    join barycenters as b using (msisdn)
    group by l.msisdn
),

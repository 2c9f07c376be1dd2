-- Fragment (a CTE) shared by the bandicoot indicator queries: number of antennas and the
-- entropy of antennas per msisdn. Needs a CTE `antenna_counts(msisdn, antenna, n)` before it.
antennas as (
    select
        msisdn,
        count(*) as number_of_antennas,
        -sum(p * ln(p)) as entropy_of_antennas
    from (
        select msisdn, n / sum(n) over (partition by msisdn) as p
        from antenna_counts
    )
    group by msisdn
),

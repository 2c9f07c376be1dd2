-- bandicoot 0.6 indicators of one local month whose local time never goes back (no DST
-- fall-back in it; analytics/marketing/indicators.py decides), without sorting the records.
-- Grain of the result: one row per msisdn having at least one voice or sms record in the window.
-- Same values as marketing_indicators.sql (the general query, which orders every record):
-- within such a month a local 30-minute chunk key never repeats once left, so bandicoot's
-- chunks of consecutive records are exactly the (msisdn, local half-hour) groups; record
-- order is needed only to break a tie between antennas inside a chunk that has several.
-- Parameters: $start_at / $end_at (UTC window of the month), $tz and the local clock
-- ($local_cut_*, $local_offset_*, see marketing_local_at.sql), $msisdn_from / $msisdn_to
-- (the batch of subscribers [from, to); null = unbounded): every indicator is per msisdn,
-- so batches by msisdn range give exactly the one-pass values, with smaller hash tables.
-- Inside the query, `msisdn` is hash(records.msisdn, $key_seed), a 64-bit integer (fewer bits
-- with $key_shift > 0, only in tests), and
-- `number` the msisdn itself: the per-(subscriber, chunk) and per-(subscriber,
-- correspondent) hash tables, nearly one group per record, cost about 20 % less on an
-- integer key than on the string. `collided` flags a key that two msisdns of the batch
-- share (the caller then runs the batch again with another seed): the values stay exact.
with
base as (
    select
        hash(msisdn, $key_seed::bigint) >> $key_shift::int as msisdn,
        msisdn as number,
        service = 'voice' as is_call,
        direction,
        other_party,
        duration_s,
        coalesce(cell_id, '') as antenna,
        {include:marketing_local_at} as local_at
    from records
    where service in ('voice', 'sms')
      and start_at >= $start_at::timestamp
      and start_at < $end_at::timestamp
      and ($msisdn_from::varchar is null or msisdn >= $msisdn_from::varchar)
      and ($msisdn_to::varchar is null or msisdn < $msisdn_to::varchar)
),

-- per subscriber: counts, durations, nocturnal and initiated shares; the active days as a
-- bit set of the month's days (one month: the day of month identifies the local date)
per_subscriber as (
    select
        msisdn,
        min(number) as number,
        min(number) <> max(number) as collided,
        bit_count(bit_or(1::bigint << day(local_at))) as active_days,
        count(*) filter (where is_call) as n_call,
        count(*) filter (where not is_call) as n_text,
        avg(duration_s) filter (where is_call) as call_duration_mean,
        stddev_pop(duration_s) filter (where is_call) as call_duration_std,
        avg(case when local_at::time <= time '07:00:00' or local_at::time >= time '19:00:00'
                 then 1.0 else 0.0 end) filter (where is_call) as percent_nocturnal_call,
        avg(case when local_at::time <= time '07:00:00' or local_at::time >= time '19:00:00'
                 then 1.0 else 0.0 end) filter (where not is_call) as percent_nocturnal_text,
        avg(case when direction = 'out' then 1.0 else 0.0 end) filter (where is_call)
            as percent_initiated_interactions_call
    from base
    group by msisdn
),

per_contact as (
    select msisdn, is_call, other_party, count(*) as n
    from base
    group by all
),

-- entropy -sum(p ln p) with p = n / N as ln N - sum(n ln n) / N (N = the interaction's
-- records), so no join back to the counts; one correspondent: exactly 0
contacts as (
    select
        msisdn,
        count(*) filter (where is_call) as number_of_contacts_call,
        count(*) filter (where not is_call) as number_of_contacts_text,
        sum(n) filter (where is_call) as n_call,
        sum(n) filter (where not is_call) as n_text,
        sum(n * ln(n)) filter (where is_call) as nlogn_call,
        sum(n * ln(n)) filter (where not is_call) as nlogn_text
    from per_contact
    group by msisdn
),

-- the local half-hour chunks; a chunk with one antenna is a position of that antenna
chunks as (
    select msisdn, epoch_us(local_at) // 1800000000 as chunk, min(antenna) as lo, max(antenna) as hi
    from base
    group by all
),

multi_chunks as materialized (
    select msisdn, chunk from chunks where lo <> hi
),

-- chunks with several antennas (few): their records again, in record order, for
-- bandicoot's most frequent antenna, ties to the one seen first
multi_records as (
    select
        hash(msisdn, $key_seed::bigint) >> $key_shift::int as msisdn,
        epoch_us({include:marketing_local_at}) // 1800000000 as chunk,
        coalesce(cell_id, '') as antenna,
        start_at,
        record_id
    from records
    where service in ('voice', 'sms')
      and start_at >= $start_at::timestamp
      and start_at < $end_at::timestamp
      and ($msisdn_from::varchar is null or msisdn >= $msisdn_from::varchar)
      and ($msisdn_to::varchar is null or msisdn < $msisdn_to::varchar)
),

multi_antennas as (
    select msisdn, chunk, antenna, count(*) as n, min(rn) as first_rn
    from (
        select m.*, row_number() over (partition by m.msisdn, m.chunk order by m.start_at, m.record_id) as rn
        from multi_records as m
        semi join multi_chunks as c on c.msisdn = m.msisdn and c.chunk = m.chunk
    )
    group by all
),

positions as (
    select msisdn, lo as antenna from chunks where lo = hi
    union all
    select msisdn, arg_max(antenna, n * 4294967296 - first_rn) as antenna
    from multi_antennas
    group by msisdn, chunk
),

antenna_counts as materialized (
    select msisdn, antenna, count(*) as n
    from positions
    group by all
),

{include:marketing_antennas}

-- positions per location (antennas sharing coordinates count together, as in bandicoot)
located as materialized (
    select a.msisdn, c.lat, c.lon, sum(a.n) as t
    from antenna_counts as a
    join cells as c on c.cell_id = a.antenna
    where c.lat is not null and c.lon is not null
    group by all
),

{include:marketing_gyration}

final as (
    select
        s.number as msisdn,
        s.collided,
        s.active_days,
        nullif(c.number_of_contacts_call, 0) as number_of_contacts_call,
        nullif(c.number_of_contacts_text, 0) as number_of_contacts_text,
        nullif(s.n_call, 0) as number_of_interactions_call,
        nullif(s.n_text, 0) as number_of_interactions_text,
        s.call_duration_mean,
        s.call_duration_std,
        s.percent_nocturnal_call,
        s.percent_nocturnal_text,
        s.percent_initiated_interactions_call,
        case when c.number_of_contacts_call = 1 then 0.0
             else ln(c.n_call) - c.nlogn_call / c.n_call end as entropy_of_contacts_call,
        case when c.number_of_contacts_text = 1 then 0.0
             else ln(c.n_text) - c.nlogn_text / c.n_text end as entropy_of_contacts_text,
        a.number_of_antennas,
        a.entropy_of_antennas,
        g.radius_of_gyration
    from per_subscriber as s
    left join contacts as c using (msisdn)
    left join antennas as a using (msisdn)
    left join gyration as g using (msisdn)
)

select * from final order by msisdn

-- bandicoot 0.6 indicators, whole period or one month, no weekly/hourly split.
-- Grain of the result: one row per msisdn having at least one voice or sms record in the window.
-- Parameters: $tz (zone of local times), $start_at / $end_at (UTC window, null = open),
-- $msisdn_from / $msisdn_to (subscribers [from, to); null = unbounded).
-- Definitions: see analytics/marketing/indicators.py (module docstring).
with
base as (
    select
        r.msisdn,
        r.record_id,
        r.start_at,
        timezone($tz, timezone('UTC', r.start_at)) as local_at,
        case when r.service = 'voice' then 'call' else 'text' end as interaction,
        r.direction,
        r.other_party,
        r.duration_s,
        coalesce(r.cell_id, '') as antenna,
        c.lat,
        c.lon
    from records as r
    left join cells as c on c.cell_id = r.cell_id
    where r.service in ('voice', 'sms')
      and ($start_at::timestamp is null or r.start_at >= $start_at::timestamp)
      and ($end_at::timestamp is null or r.start_at < $end_at::timestamp)
      and ($msisdn_from::varchar is null or r.msisdn >= $msisdn_from::varchar)
      and ($msisdn_to::varchar is null or r.msisdn < $msisdn_to::varchar)
),

-- per subscriber x interaction: counts, durations, nocturnal and initiated shares
by_interaction as (
    select
        msisdn,
        interaction,
        count(*) as interactions,
        avg(duration_s) as duration_mean,
        stddev_pop(duration_s) as duration_std,
        avg(case when local_at::time <= time '07:00:00' or local_at::time >= time '19:00:00'
                 then 1.0 else 0.0 end) as nocturnal,
        avg(case when direction = 'out' then 1.0 else 0.0 end) as initiated
    from base
    group by msisdn, interaction
),

per_contact as (
    select msisdn, interaction, other_party, count(*) as n
    from base
    group by msisdn, interaction, other_party
),

contacts as (
    select
        msisdn,
        interaction,
        count(*) as contacts,
        -sum(p * ln(p)) as entropy
    from (
        -- p = records with this correspondent / records of the interaction (by_interaction)
        select pc.msisdn, pc.interaction, pc.n / bi.interactions as p
        from per_contact as pc
        join by_interaction as bi using (msisdn, interaction)
    )
    group by msisdn, interaction
),

days as (
    select msisdn, count(distinct local_at::date) as active_days
    from base
    group by msisdn
),

-- spatial: records binned into 30-minute chunks (bandicoot's key year, day, hour,
-- minute // 30 over consecutive records), each chunk's most frequent antenna, ties to the first seen
ordered as (
    select
        msisdn, antenna, lat, lon,
        row_number() over w as rn,
        case when bin_key is distinct from lag(bin_key) over w then 1 else 0 end as is_new_bin
    from (
        select *, year(local_at) * 100000 + day(local_at) * 1000 + hour(local_at) * 10 + minute(local_at) // 30 as bin_key
        from base
    )
    window w as (partition by msisdn order by start_at, record_id)
),

binned as (
    select *, sum(is_new_bin) over (partition by msisdn order by rn rows unbounded preceding) as bin
    from ordered
),

bin_antennas as (
    select msisdn, bin, antenna, any_value(lat) as lat, any_value(lon) as lon,
           count(*) as n, min(rn) as first_rn
    from binned
    group by msisdn, bin, antenna
),

-- the chunk's most frequent antenna, ties to the first seen (n desc, first_rn asc): one
-- aggregate over a unique key instead of a window sort
positions as (
    select msisdn, unnest(top)
    from (
        select msisdn, arg_max({'antenna': antenna, 'lat': lat, 'lon': lon}, n * 4294967296 - first_rn) as top
        from bin_antennas
        group by msisdn, bin
    )
),

antenna_counts as (
    select msisdn, antenna, count(*) as n
    from positions
    group by msisdn, antenna
),

{include:marketing_antennas}

located as (
    select msisdn, lat, lon, count(*) as t
    from positions
    where lat is not null and lon is not null
    group by msisdn, lat, lon
),

{include:marketing_gyration}

final as (
    select
        d.msisdn,
        d.active_days,
        max(c.contacts) filter (where c.interaction = 'call') as number_of_contacts_call,
        max(c.contacts) filter (where c.interaction = 'text') as number_of_contacts_text,
        max(i.interactions) filter (where i.interaction = 'call') as number_of_interactions_call,
        max(i.interactions) filter (where i.interaction = 'text') as number_of_interactions_text,
        max(i.duration_mean) filter (where i.interaction = 'call') as call_duration_mean,
        max(i.duration_std) filter (where i.interaction = 'call') as call_duration_std,
        max(i.nocturnal) filter (where i.interaction = 'call') as percent_nocturnal_call,
        max(i.nocturnal) filter (where i.interaction = 'text') as percent_nocturnal_text,
        max(i.initiated) filter (where i.interaction = 'call') as percent_initiated_interactions_call,
        max(c.entropy) filter (where c.interaction = 'call') as entropy_of_contacts_call,
        max(c.entropy) filter (where c.interaction = 'text') as entropy_of_contacts_text,
        any_value(a.number_of_antennas) as number_of_antennas,
        any_value(a.entropy_of_antennas) as entropy_of_antennas,
        any_value(g.radius_of_gyration) as radius_of_gyration
    from days as d
    left join by_interaction as i using (msisdn)
    left join contacts as c on c.msisdn = d.msisdn and c.interaction = i.interaction
    left join antennas as a on a.msisdn = d.msisdn
    left join gyration as g on g.msisdn = d.msisdn
    group by d.msisdn, d.active_days
)

select * from final order by msisdn

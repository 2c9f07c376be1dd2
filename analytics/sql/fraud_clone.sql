-- SIM clone: one row per line seen on two handsets interleaved (its IMEI switches back and
-- forth at least $min_imei_switches times; a handset change is one switch) or moving
-- impossibly: at least $min_violations consecutive located, non-roaming records in cells
-- >= $min_km apart at a speed above $max_speed_kmh (elapsed time floored at one minute).
-- An IMEI seen fewer than $min_imei_records times on the line is ignored.
-- Params: $since, $min_imei_records, $min_imei_switches, $min_km, $max_speed_kmh, $min_violations, $max_ids.
with located as (
    select
        r.record_id, r.start_at, r.msisdn, nullif(r.imei, '') as imei, r.cell_id, r.region,
        case when not r.is_roaming then c.lat end as lat,
        case when not r.is_roaming then c.lon end as lon
    from records r
    left join cells c on c.cell_id = r.cell_id
    where r.start_at >= coalesce($since::timestamp, '-infinity'::timestamp)
),

-- cheap passes: only lines with two real handsets, or cells spread over >= $min_km, can qualify
handsets as (
    select msisdn
    from (select msisdn, imei from located where imei is not null group by msisdn, imei having count(*) >= $min_imei_records)
    group by msisdn
    having count(*) >= 2
),

spread as (
    select msisdn
    from located
    group by msisdn
    having (max(lat) - min(lat)) * 111.2 >= $min_km
        or (max(lon) - min(lon)) * 111.2 * cos(radians(avg(lat))) >= $min_km
    union
    select msisdn from handsets
),

examined as (
    select
        l.* exclude (imei),
        -- an IMEI seen fewer than $min_imei_records times is a glitch, not a handset
        case when count(*) over (partition by l.msisdn, l.imei) >= $min_imei_records then l.imei end as imei
    from located l
    semi join spread s on s.msisdn = l.msisdn
),

sequenced as (
    select
        *,
        lag(imei ignore nulls) over w as prev_imei,
        lag(lat ignore nulls) over w as prev_lat,
        lag(lon ignore nulls) over w as prev_lon,
        lag(case when lat is not null then start_at end ignore nulls) over w as prev_located_at,
        lag(case when lat is not null then record_id end ignore nulls) over w as prev_located_id,
        lag(case when lat is not null then cell_id end ignore nulls) over w as prev_cell_id
    from examined
    window w as (partition by msisdn order by start_at, record_id)
),

steps as (
    select
        *,
        imei is not null and prev_imei is not null and imei <> prev_imei as is_switch,
        case when lat is not null and prev_lat is not null then
            2 * 6371.0 * asin(sqrt(
                pow(sin(radians(lat - prev_lat) / 2), 2)
                + cos(radians(prev_lat)) * cos(radians(lat)) * pow(sin(radians(lon - prev_lon) / 2), 2)
            ))
        end as km,
        greatest(epoch(start_at - prev_located_at) / 3600.0, 1 / 60.0) as hours
    from sequenced
),

flagged as (
    select
        *,
        coalesce(km >= $min_km and km / hours > $max_speed_kmh, false) as is_impossible
    from steps
),

lines as (
    select
        msisdn,
        count(*) filter (where is_switch) as imei_switches,
        count(distinct imei) as imeis,
        count(*) filter (where is_impossible) as impossible_hops,
        max(km / hours) filter (where is_impossible) as max_speed_kmh,
        max(km) filter (where is_impossible) as max_km
    from flagged
    group by msisdn
    having count(*) filter (where is_switch) >= $min_imei_switches
        or count(*) filter (where is_impossible) >= $min_violations
),

behind as (
    select
        f.msisdn,
        min(f.start_at) as first_seen_at,
        max(f.start_at) as last_seen_at,
        mode(f.region) as region,
        list(distinct f.imei) filter (where f.imei is not null) as imei_list,
        list(distinct f.cell_id) filter (where f.is_impossible) as hop_cells,
        list(distinct f.prev_cell_id) filter (where f.is_impossible) as hop_from_cells,
        list(f.record_id order by f.start_at, f.record_id)
            filter (where (f.is_switch and l.imei_switches >= $min_imei_switches)
                       or (f.is_impossible and l.impossible_hops >= $min_violations)) as record_ids,
        list(f.prev_located_id order by f.start_at, f.record_id)
            filter (where f.is_impossible and l.impossible_hops >= $min_violations) as hop_from_ids
    from flagged f
    join lines l using (msisdn)
    where f.is_switch or f.is_impossible
    group by f.msisdn
),

final as (
    select
        l.msisdn,
        b.region,
        b.first_seen_at,
        b.last_seen_at,
        least(1.0,
            0.5
            + 0.25 * least(1.0, l.imei_switches / (2.0 * $min_imei_switches))
            + 0.25 * least(1.0, l.impossible_hops / (2.0 * $min_violations))
        ) as score,
        '' as key_suffix,
        to_json({
            'imei_switches': l.imei_switches,
            'imeis': b.imei_list,
            'impossible_hops': l.impossible_hops,
            'max_speed_kmh': round(l.max_speed_kmh, 0),
            'max_km': round(l.max_km, 1),
            'kind': case
                when l.imei_switches >= $min_imei_switches and l.impossible_hops >= $min_violations then 'imei+travel'
                when l.imei_switches >= $min_imei_switches then 'imei'
                else 'travel' end,
            'cells': list_distinct(list_concat(coalesce(b.hop_from_cells, []), coalesce(b.hop_cells, []))),
            'record_count': len(list_distinct(list_concat(coalesce(b.hop_from_ids, []), coalesce(b.record_ids, [])))),
            'record_ids': list_distinct(list_concat(coalesce(b.hop_from_ids, []), coalesce(b.record_ids, [])))[1:$max_ids]
        }) as evidence
    from lines l
    join behind b using (msisdn)
)

select * from final

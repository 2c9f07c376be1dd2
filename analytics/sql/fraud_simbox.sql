-- SIM box: one row per line whose examined records look like a GSM gateway:
-- many outgoing calls to many distinct numbers, almost no incoming calls, sms or data,
-- from one or very few cells. Params: $since, $min_calls, $min_contacts, $min_calls_per_day,
-- $min_contact_ratio, $max_in_ratio, $max_other_ratio, $max_cells, $new_line_days, $max_ids;
-- $data_first_at: the first record of all the data ("newly active" is measured from it),
-- given by the cluster driver to a share of the subscribers, else null (read here).
with examined as (
    select record_id, start_at, msisdn, other_party, service, direction, cell_id, region
    from records
    where start_at >= coalesce($since::timestamp, '-infinity'::timestamp)
),

-- cheap counts first; distinct counts only for the lines that pass them
volumes as (
    select
        msisdn,
        count(*) as records,
        count(*) filter (where service = 'voice' and direction = 'out') as calls_out,
        count(*) filter (where service = 'voice' and direction = 'in') as calls_in,
        count(*) filter (where service in ('sms', 'mms')) as texts,
        count(*) filter (where service in ('data', 'voip', 'video')) as data_sessions
    from examined
    group by msisdn
    having count(*) filter (where service = 'voice' and direction = 'out') >= $min_calls
       and count(*) filter (where service = 'voice' and direction = 'in')
           <= $max_in_ratio * count(*) filter (where service = 'voice' and direction = 'out')
       and count(*) filter (where service in ('sms', 'mms', 'data', 'voip', 'video')) <= $max_other_ratio * count(*)
),

lines as (
    select
        v.*,
        count(distinct e.other_party) filter (where e.service = 'voice' and e.direction = 'out') as contacts_out,
        count(distinct e.cell_id) as cells,
        count(distinct e.start_at::date) filter (where e.service = 'voice' and e.direction = 'out') as active_days
    from volumes v
    join examined e using (msisdn)
    group by all
),

candidates as (
    select
        *,
        calls_out / active_days as calls_per_day,
        calls_in / calls_out as in_ratio,
        (texts + data_sessions) / records as other_ratio
    from lines
    where calls_out >= $min_calls
      and contacts_out >= $min_contacts
      and contacts_out >= $min_contact_ratio * calls_out
      and calls_out / active_days >= $min_calls_per_day
      and calls_in <= $max_in_ratio * calls_out
      and texts + data_sessions <= $max_other_ratio * records
      and cells <= $max_cells
),

behind as (
    select
        e.msisdn,
        min(e.start_at) as first_seen_at,
        max(e.start_at) as last_seen_at,
        mode(e.region) as region,
        list(distinct e.cell_id) as cell_list,
        list(e.record_id order by e.start_at, e.record_id) as record_ids
    from examined e
    semi join candidates c on c.msisdn = e.msisdn
    where e.service = 'voice' and e.direction = 'out'
    group by e.msisdn
),

history as (
    select r.msisdn, min(r.start_at) as line_first_at
    from records r
    semi join candidates c on c.msisdn = r.msisdn
    group by r.msisdn
),

data_start as (
    select coalesce($data_first_at::timestamp, min(start_at)) as data_first_at from records
),

final as (
    select
        c.msisdn,
        b.region,
        b.first_seen_at,
        b.last_seen_at,
        h.line_first_at >= d.data_first_at + to_days($new_line_days::integer) as is_new_line,
        least(1.0,
            0.5
            + 0.2 * least(1.0, (c.calls_per_day / $min_calls_per_day - 1) / 2)
            + 0.1 * (1 - c.in_ratio / greatest($max_in_ratio, 1e-9))
            + 0.1 * (1 - c.other_ratio / greatest($max_other_ratio, 1e-9))
            + 0.1 * (h.line_first_at >= d.data_first_at + to_days($new_line_days::integer))::integer
        ) as score,
        '' as key_suffix,
        to_json({
            'records': c.records,
            'calls_out': c.calls_out,
            'distinct_contacts': c.contacts_out,
            'calls_in': c.calls_in,
            'texts': c.texts,
            'data_sessions': c.data_sessions,
            'active_days': c.active_days,
            'calls_per_day': round(c.calls_per_day, 1),
            'in_ratio': round(c.in_ratio, 4),
            'cells': b.cell_list,
            'newly_active': h.line_first_at >= d.data_first_at + to_days($new_line_days::integer),
            'line_first_seen': strftime(h.line_first_at, '%Y-%m-%dT%H:%M:%SZ'),
            'record_count': len(b.record_ids),
            'record_ids': b.record_ids[1:$max_ids]
        }) as evidence
    from candidates c
    join behind b using (msisdn)
    join history h using (msisdn)
    cross join data_start d
)

select * from final

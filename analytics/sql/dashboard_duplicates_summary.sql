-- Duplicates per load: one row per load (file) that carried records seen before.
with grouped as (
    select d.load_id, count(*)::bigint as duplicates,
           min(d.start_at) as first_start_at, max(d.start_at) as last_start_at
    from duplicates d
    group by d.load_id
),
final as (
    select g.load_id, l.file_name, g.duplicates, g.first_start_at, g.last_start_at
    from grouped g left join loads l using (load_id)
    order by g.load_id desc
)
select * from final

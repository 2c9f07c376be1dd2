-- Quarantine overview: one row per reason per source file, with the row count.
with grouped as (
    select reason, source_file, count(*)::bigint as rows,
           min(source_line) as first_line, max(load_id) as last_load_id
    from quarantine
    group by reason, source_file
),
final as (
    select * from grouped order by rows desc, reason, source_file
)
select * from final

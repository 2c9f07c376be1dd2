-- Quarantined rows themselves: one row per rejected row, filtered by reason and file ('' = any).
with filtered as (
    select load_id, source_file, source_line, reason, detail, raw
    from quarantine
    where ($reason = '' or reason = $reason)
      and ($source_file = '' or source_file = $source_file)
),
final as (
    select * from filtered order by source_file, source_line limit $limit
)
select * from final

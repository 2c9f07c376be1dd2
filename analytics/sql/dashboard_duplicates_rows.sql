-- Duplicate records: one row per repeated record (capped by $limit), with the file it came in.
with final as (
    select d.load_id, l.file_name, d.source_line, d.record_id, d.msisdn, d.start_at, d.charge::double as charge
    from duplicates d left join loads l using (load_id)
    order by d.load_id desc, d.source_line
    limit $limit
)
select * from final

-- The dispute notes of subscriber $msisdn, newest first: one row per note.
with final as (
    select note_id, msisdn, month_date, record_id, note, author, author_role, created_at
    from billing_notes
    where msisdn = $msisdn
)
select * from final order by created_at desc, note_id desc

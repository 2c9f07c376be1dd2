-- The content hashes of the loaded plans and subscribers references: one row per kind
-- loaded (kind, content_sha256), none when a reference was never loaded.
with final as (
    select kind, content_sha256
    from reference_files
    where kind in ('plans', 'subscribers')
)
select * from final

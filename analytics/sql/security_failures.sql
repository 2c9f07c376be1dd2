-- The failure count ($user_name, $client): one row (failed_attempts, last_failed_at,
-- locked_until), or none when that count has no row.
with final as (
    select failed_attempts, last_failed_at, locked_until
    from security_lockout
    where user_name = $user_name and client = $client
)
select * from final

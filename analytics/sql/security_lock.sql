-- The running lock of the count ($user_name, $client) at $now: one row (locked_until),
-- or none when that count is not locked.
with final as (
    select locked_until
    from security_lockout
    where user_name = $user_name and client = $client and locked_until > $now
)
select * from final

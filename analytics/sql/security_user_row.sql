-- The account $user_name as sign-in checks it (user_name, role, password_hash,
-- is_disabled, session_generation): one row, or none when there is no such account.
with final as (
    select user_name, role, password_hash, is_disabled, session_generation
    from security_users
    where user_name = $user_name
)
select * from final

-- Every account, never its hash: one row per user_name (role, sign_in 'oidc' or 'password',
-- is_disabled, created_at, created_by, last_sign_in_at, the latest locked_until of its
-- lock-out rows), by user_name.
with locks as (
    select user_name, max(locked_until) as locked_until
    from security_lockout
    group by user_name
),
final as (
    select u.user_name, u.role,
           case when u.password_hash is null then 'oidc' else 'password' end as sign_in,
           u.is_disabled, u.created_at, u.created_by, u.last_sign_in_at, l.locked_until
    from security_users as u
    left join locks as l using (user_name)
)
select * from final order by user_name

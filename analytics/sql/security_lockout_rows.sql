-- How many lock-out rows (one per client and per name count) $user_name has: one row, column lockout_rows.
with final as (
    select count(*) as lockout_rows from security_lockout where user_name = $user_name
)
select * from final

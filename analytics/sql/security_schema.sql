-- Security tables (issue 10), created by analytics.security.schema.ensure_security_schema().
-- All *_at columns are UTC timestamps.

-- Sign-in accounts: one row per user name (unique, enforced in code under the writer lock).
-- password_hash is an argon2id PHC string; null for accounts that sign in only through OIDC.
create table if not exists security_users (
    user_name       varchar not null,
    role            varchar not null,
    password_hash   varchar,
    is_disabled     boolean not null default false,
    created_at      timestamp not null,
    created_by      varchar not null,
    last_sign_in_at timestamp
);

-- Lock-out state: one row per attempted user name (known or not) with failures since the
-- last success or lock-out; locked_until set when failures reach [security] max_failed_attempts.
create table if not exists security_lockout (
    user_name       varchar not null,
    failed_attempts integer not null,
    last_failed_at  timestamp not null,
    locked_until    timestamp
);

-- The audit log: one row per audited event, append-only (the app has no update or delete
-- path for it; tests/test_security_audit.py checks the code for one).
create sequence if not exists security_audit_seq;
create table if not exists security_audit (
    audit_id  bigint not null default nextval('security_audit_seq'),
    event_at  timestamp not null,   -- UTC
    user_name varchar not null,
    role      varchar,
    action    varchar not null,     -- sign_in, sign_in_failed, lookup, unmask, export, retention...
    detail    varchar
);

-- Retention runs: one row per executed (not dry) run; cutoff_at = oldest start_at kept.
create table if not exists security_retention_runs (
    run_at      timestamp not null,
    run_by      varchar not null,
    keep_months integer not null,
    cutoff_at   timestamp not null,
    deleted     varchar not null    -- JSON object: table -> rows deleted
);

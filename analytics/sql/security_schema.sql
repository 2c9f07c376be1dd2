-- The security store (analytics/security/db.py): its own DuckDB file next to the warehouse,
-- <warehouse>.accounts.duckdb, with its own lock, so sign-in never waits on a data load.
-- Created by analytics.security.schema.ensure_security_schema(). All *_at columns are UTC.

-- Sign-in accounts: one row per user name (unique, enforced in code under the store's lock).
-- password_hash is an argon2id PHC string; null for accounts that sign in only through OIDC.
-- session_generation: part of every session cookie; raised by sign-out and disabling, which
-- revokes every cookie issued before.
create table if not exists security_users (
    user_name          varchar not null,
    role               varchar not null,
    password_hash      varchar,
    is_disabled        boolean not null default false,
    created_at         timestamp not null,
    created_by         varchar not null,
    last_sign_in_at    timestamp,
    session_generation integer not null default 0
);

-- Failed sign-ins: one row per (user_name, client) with failures since the last success or
-- lock-out. user_name = '*' counts a client's failures over every name; client = '*' counts a
-- name's failures over every client. locked_until is set when a count reaches its limit.
create table if not exists security_lockout (
    user_name       varchar not null,
    client          varchar not null default '',
    failed_attempts integer not null,
    last_failed_at  timestamp not null,
    locked_until    timestamp
);

-- The audit log: one row per audited event, append-only and hash-chained: row_hash =
-- sha256(prev_hash + the row's fields), prev_hash = the previous row's row_hash
-- (analytics/security/audit.py; checked by `python -m analytics audit verify`).
create table if not exists security_audit (
    audit_id  bigint not null,
    event_at  timestamp not null,   -- UTC
    user_name varchar not null,
    role      varchar,
    action    varchar not null,     -- sign_in, sign_in_failed, lookup, unmask, export, retention...
    detail    varchar,
    prev_hash varchar not null,
    row_hash  varchar not null
);

-- Tables owned by analytics.billing (created idempotently by ensure_billing_schema).

-- Rated records: one row per record (record_id unique), its expected charge and the rule
-- that produced it, under the plan resolved at rating time. Recomputed whole per month.
create table if not exists rated_records (
    record_id            varchar not null,
    month_date           date not null,       -- calendar month in settings.timezone
    start_at             timestamp not null,  -- UTC
    msisdn               varchar not null,
    service              varchar not null,
    direction            varchar not null,
    region               varchar not null,
    plan_id              varchar,             -- resolved: the record's own, else subscribers.plan_id
    allowance_kind       varchar,             -- voice | sms | data when the record spends an allowance
    rule                 varchar not null,
    billable_units       bigint not null,
    units_from_allowance bigint not null,
    allowance_used       bigint,              -- allowance units used this month after this record
    allowance_left_after bigint,
    expected_charge      decimal(18, 4),      -- null when the plan is unknown
    charge               decimal(18, 4)       -- billed; null when the source carries none
);

-- One row per rated month: what the stored rating was computed from (staleness check).
create table if not exists rated_months (
    month_date  date primary key,
    records     bigint not null,
    max_load_id bigint,
    plans_sha   varchar,                      -- reference_files content hash of plans used
    subs_sha    varchar,
    rated_at    timestamp not null
);

-- Dispute notes written by support on the Subscriber lookup page: one row per note.
create sequence if not exists billing_note_id_seq start 1;
create table if not exists billing_notes (
    note_id    bigint primary key default nextval('billing_note_id_seq'),
    msisdn     varchar not null,
    month_date date,
    record_id  varchar,
    note       varchar not null,
    author     varchar not null,
    author_role varchar,
    created_at timestamp not null              -- UTC
);

-- Tables owned by analytics.billing (created idempotently by ensure_billing_schema).

-- Rated records: one row per record (record_id unique), its expected charge and the rule
-- that produced it, under the plan resolved at rating time. Recomputed whole per month.
-- Like the records, the rows are Parquet files of the lake (<warehouse>.lake/rated_records,
-- one file a month, replaced whole); this empty table fixes their columns and the view
-- `rated_records` names the current files (analytics/lake.py).
create table if not exists rated_records_schema (
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

-- Stored reconciliation of a month (built with the rating by analytics.marts.refresh_marts
-- and `python -m analytics reconcile`; read by the Billing page). One row per month: the
-- totals that need every checked item, and what it was computed from (staleness check).
create table if not exists reconcile_months (
    month_date      date primary key,
    records         bigint not null,          -- records of the month when built
    max_load_id     bigint,
    dup_rows        bigint not null,          -- billed duplicate rows of the month when built
    dup_max_load_id bigint,
    plans_sha       varchar,
    subs_sha        varchar,
    records_checked bigint not null,
    billed_total    decimal(38, 4),           -- records only (a duplicate is not a record)
    expected_total  decimal(38, 4),
    not_reconciled  bigint not null,          -- rated records without a billed charge
    unrated         bigint not null,          -- records without a known plan
    built_at        timestamp not null        -- UTC
);

-- One row per mismatched checked item of a month (a record, or a duplicate row billed again).
create table if not exists reconcile_mismatches (
    record_id            varchar not null,
    source               varchar not null,    -- record | duplicate
    month_date           date not null,
    start_at             timestamp not null,
    msisdn               varchar,
    region               varchar,
    plan_id              varchar,
    service              varchar,
    rule                 varchar,
    billable_units       bigint,
    units_from_allowance bigint,
    billed               decimal(18, 4),
    expected             decimal(18, 4),
    diff                 decimal(18, 4),
    is_mismatch          boolean not null,
    mismatch_class       varchar
);

-- One row per month x dimension (region | plan_id | service) x value: the breakdown totals.
create table if not exists reconcile_breakdown (
    month_date      date not null,
    dimension       varchar not null,
    value           varchar,                  -- null: records without that value (no plan)
    records_checked bigint not null,
    mismatches      bigint not null,
    billed          decimal(38, 4),
    expected        decimal(38, 4),
    leakage         decimal(38, 4),
    overbilling     decimal(38, 4)
);

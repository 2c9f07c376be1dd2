-- Tables owned by analytics.forecast.hierarchy (coherent daily forecasts: cells -> regions ->
-- national). ds are local midnights, as in forecast_values' daily rows.

-- One row per metric per node (national total, region, cell) per future day.
create table if not exists forecast_hierarchy_values (
    metric     varchar not null,      -- records | voice_minutes | sms | data_gb (additive metrics only)
    level      varchar not null,      -- national | region | cell
    node_id    varchar not null,      -- 'total', '<region>' or '<region>/<cell_id>'
    region     varchar not null,      -- '' for the national total
    cell_id    varchar not null,      -- '' above the cell level; '(no cell)' = records without a cell
    ds         timestamp not null,
    yhat_base  double not null,       -- the node's own (base) forecast, before reconciliation
    yhat       double not null,       -- coherent: children sum to their parent
    yhat_lower    double,             -- 80 % band of the coherent forecast: the node's own (calibrated)
    yhat_upper    double,             --   band moved by the reconciliation's change to its mean
    yhat_lower_95 double,             -- 95 % band, likewise
    yhat_upper_95 double,
    method     varchar not null,      -- the reconciliation chosen for the metric
    base_model varchar not null       -- the engine's chosen model for the node's base forecast
);

-- One row per metric per reconciliation method: its backtest errors by level and whether it
-- was chosen (lowest score), with the input hash that makes a refresh skip unchanged data.
create table if not exists forecast_hierarchy_choice (
    metric       varchar not null,
    method       varchar not null,    -- base (not coherent, for reference) | bottom_up | mint_ols | mint_wls_struct | mint_shrink
    mae_national double,
    mae_region   double,              -- mean over the regions' days
    mae_cell     double,              -- mean over the cells' days
    score        double,              -- mean over the three levels of MAE / mean |actual| of the level
    is_chosen    boolean not null,
    cutoff_at    timestamp,           -- first held-out day of the backtest
    window_days  integer not null,
    nodes        integer not null,    -- series in the hierarchy (1 + regions + cells)
    input_hash   varchar not null,
    computed_at  timestamp not null,
    seconds      double not null,
    options_hash varchar,             -- the run's options alone (a change makes a refit due)
    data_end_at  timestamp,           -- UTC end of the last hour of data the run saw
    coverage_80  double,              -- held-out share inside the coherent 80 % bands, mean over the levels
    coverage_80_national double,
    coverage_80_region   double,
    coverage_80_cell     double,
    coverage_95  double
);

-- Warehouses from before the coherent bands and the refit rule (issue 22): add the columns.
alter table forecast_hierarchy_values add column if not exists yhat_lower double;
alter table forecast_hierarchy_values add column if not exists yhat_upper double;
alter table forecast_hierarchy_values add column if not exists yhat_lower_95 double;
alter table forecast_hierarchy_values add column if not exists yhat_upper_95 double;
alter table forecast_hierarchy_choice add column if not exists options_hash varchar;
alter table forecast_hierarchy_choice add column if not exists data_end_at timestamp;
alter table forecast_hierarchy_choice add column if not exists coverage_80 double;
alter table forecast_hierarchy_choice add column if not exists coverage_80_national double;
alter table forecast_hierarchy_choice add column if not exists coverage_80_region double;
alter table forecast_hierarchy_choice add column if not exists coverage_80_cell double;
alter table forecast_hierarchy_choice add column if not exists coverage_95 double;

-- Tables owned by analytics.forecast (created by analytics.forecast.persist.ensure_forecast_schema).
-- ds / *_at are UTC timestamps for hourly series and local midnights for daily ones.

-- One row per forecast run.
create table if not exists forecast_runs (
    run_id        varchar primary key,
    freq          varchar not null,      -- daily | hourly
    horizon_steps integer not null,
    data_cutoff   timestamp,             -- last step of the loaded data the run saw
    started_at    timestamp not null,
    finished_at   timestamp not null,
    series_total  integer not null,
    series_refit  integer not null,      -- series whose input changed (the others were kept)
    seconds       double not null,
    options_json  varchar not null
);

-- One row per frequency per series (region x metric): its latest fit and chosen model.
create table if not exists forecast_series (
    freq          varchar not null,
    unique_id     varchar not null,      -- region/metric
    region        varchar not null,
    metric        varchar not null,
    series_hash   varchar not null,      -- sha256 of the input values + options: unchanged -> not refit
    data_cutoff   timestamp,
    n_obs         integer not null,
    n_missing     integer not null,
    n_clipped     integer not null,      -- spikes clipped before the final fit
    model         varchar not null,      -- the chosen model (or the fallback)
    reason        varchar,               -- why the fallback was used; null when chosen by backtest
    mase          double,                -- chosen model's mean backtest scores
    smape         double,
    coverage_80   double,
    coverage_95   double,
    horizon_steps integer not null,
    model_meta    varchar not null,      -- JSON: parameters, season(s), windows, scores of every model
    run_id        varchar not null,
    fitted_at     timestamp not null,
    seconds       double not null,
    primary key (freq, unique_id)
);

-- One row per frequency per series per future step: the chosen model's forecast and bands.
create table if not exists forecast_values (
    freq          varchar not null,
    unique_id     varchar not null,
    region        varchar not null,
    metric        varchar not null,
    ds            timestamp not null,
    model         varchar not null,
    yhat          double not null,
    yhat_lower    double not null,       -- 80 % band
    yhat_upper    double not null,
    yhat_lower_95 double not null,       -- 95 % band
    yhat_upper_95 double not null
);

-- One row per frequency per series per model per backtest cut-off.
create table if not exists forecast_backtests (
    freq         varchar not null,
    unique_id    varchar not null,
    region       varchar not null,
    metric       varchar not null,
    model        varchar not null,
    cutoff_at    timestamp not null,     -- first held-out step
    window_steps integer not null,
    mase         double,
    smape        double,
    mae          double,
    coverage_80  double,
    coverage_95  double,
    seconds      double not null,
    error        varchar                 -- why the model could not fit this window
);

-- Capacity outlook: one row per region (cell_id = '') and per cell.
create table if not exists capacity_outlook (
    level                  varchar not null,   -- region | cell
    region                 varchar not null,
    cell_id                varchar not null,
    capacity_erlangs       double,             -- load counted as 100 % utilisation, summed over a region's cells
    servers                integer,            -- channels for Erlang B (see docs/forecast.md), summed over a region's cells
    busy_hour_erlangs_now  double,             -- highest busy hour of the last 7 observed days
    busy_hour_erlangs_peak double,             -- highest forecast busy hour
    peak_date              date,
    utilisation_peak       double,
    blocking_peak          double,             -- Erlang B at the peak
    first_utilisation_date date,               -- first day over the utilisation threshold
    first_blocking_date    date,               -- first day over the blocking threshold
    exhaustion_date        date,               -- the earlier of the two
    days_to_exhaustion     integer,            -- from the data cut-off; null: not within the horizon
    months_to_exhaustion   double,             -- days_to_exhaustion / 30.4375 (mean month), 1 decimal
    channels_needed        integer,            -- fewest channels holding the grade of service at the peak (Erlang B)
    busy_hour_data_gb_now  double,             -- highest hourly data volume of the last 7 observed days
    busy_hour_data_gb_peak double,             -- highest forecast busy-hour data volume
    data_cutoff            date,
    computed_at            timestamp not null
);

-- Capacity detail: one row per region/cell per forecast day.
create table if not exists capacity_daily (
    level             varchar not null,
    region            varchar not null,
    cell_id           varchar not null,
    day_date          date not null,
    busy_hour_erlangs double not null,
    utilisation       double,
    blocking          double,
    busy_hour_data_gb double,               -- forecast data volume of the busiest hour (GB)
    source            varchar not null      -- hourly | daily: which forecast gave the busy hour
);

-- Columns added after the first release (warehouses created before them).
alter table capacity_outlook add column if not exists capacity_erlangs double;
alter table capacity_outlook add column if not exists months_to_exhaustion double;
alter table capacity_outlook add column if not exists channels_needed integer;
alter table capacity_outlook add column if not exists busy_hour_data_gb_now double;
alter table capacity_outlook add column if not exists busy_hour_data_gb_peak double;
alter table capacity_daily add column if not exists busy_hour_data_gb double;

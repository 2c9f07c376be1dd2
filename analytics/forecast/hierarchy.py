"""Coherent daily forecasts: cells add up to their region, regions to the national total.

The hierarchy (one per additive metric: ``records``, ``voice_minutes``, ``sms``, ``data_gb``):

* bottom: one series per cell per local day, summed from the hourly cube
  (``forecast_hierarchy_cells.sql``; the records without a cell are the region's
  ``(no cell)`` series, so that the cells sum exactly to the region); a day without traffic is 0;
* region = sum of its cells; national ``total`` = sum of the regions.

Busy-hour peaks (``busy_hour_erlangs``, hourly ``erlangs`` maxima) are not additive (the
busiest hours of two cells need not coincide) and are not reconciled.

A run (:func:`plan` -> ``workers.fit`` -> :func:`reconcile` -> :func:`save`):

1. **base forecasts** of every node with the engine (``engine.run_job``: each series picks
   its model by its own backtest); national and regions offer ``hierarchy_models_upper``
   (default seasonal naive and ETS), cells the cheaper ``hierarchy_models_cell`` (default
   seasonal naive: 600 cells must stay feasible);
2. **the same on the series cut ``hierarchy_backtest_days`` early**, whose forecasts of the
   held-out days are reconciled by every method (``METHODS``: bottom-up and MinTrace ols,
   wls_struct, mint_shrink of Nixtla's ``hierarchicalforecast``) and scored: per level, the
   MAE over its nodes and days divided by the mean absolute actual of that level; the score is
   the mean over the three levels, so that each level counts once. The lowest score is the
   metric's method (ties: the order of ``METHODS``);
3. **the base forecasts reconciled by the chosen method**: stored per node and day beside the
   base value (``forecast_hierarchy_values``), with every method's scores
   (``forecast_hierarchy_choice``).

mint_shrink needs the covariance of the base forecasts' errors; the engine keeps no in-sample
fits, so the one-week-ahead errors of the weekly naive forecast (``y[t] - y[t-7]``) stand in.
Reconciled values are not clipped at 0 (clipping would break the sums): a quiet cell may show
a slightly negative day. **Bands** (:func:`coherent_bands`): each node's own calibrated 80 % /
95 % band moved by the change the reconciliation made to its mean, so every level's band holds
its coherent mean; their coverage of the backtest's held-out days is stored per method and
level (:func:`band_coverage`, ``forecast_hierarchy_choice.coverage_80*``).

A run is skipped when the cells' daily values and the options are those of the stored run
(``input_hash``), as the engine skips unchanged series.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import polars as pl

from analytics import store
from analytics.forecast import persist, series

if TYPE_CHECKING:  # the page reads the stored hierarchy without importing the model stack (pandas, statsmodels)
    from analytics.forecast.engine import Job, Options, Result
    from analytics.forecast.pipeline import ForecastSettings

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = series.METRICS  # additive; busy-hour peaks are not
LEVELS: tuple[str, ...] = ("national", "region", "cell")
TOTAL = "total"
NO_CELL = "(no cell)"
METHODS: tuple[str, ...] = ("bottom_up", "mint_ols", "mint_wls_struct", "mint_shrink")
INSTALL_HINT = (
    "hierarchicalforecast is needed for coherent totals: pip install hierarchicalforecast==1.5.3 (requirements.txt)"
)
TABLES = ("forecast_hierarchy_values", "forecast_hierarchy_choice")
COVERAGE = ("coverage_80", "coverage_80_national", "coverage_80_region", "coverage_80_cell", "coverage_95")


def _reconciler(method: str):
    try:
        from hierarchicalforecast.methods import BottomUp, MinTrace
    except ImportError as exc:  # an optional heavy dependency: say how to get it
        raise ImportError(INSTALL_HINT) from exc
    if method == "bottom_up":
        return BottomUp()
    return MinTrace(method={"mint_ols": "ols", "mint_wls_struct": "wls_struct", "mint_shrink": "mint_shrink"}[method])


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(store.sql("forecast_hierarchy_schema"))


# --- the series -----------------------------------------------------------------------------


def cell_days(con: duckdb.DuckDBPyConnection, *, timezone: str) -> pl.DataFrame:
    """One row per cell per local day per metric: ``region, cell_id, metric, ds, y`` (0 on a
    day without traffic, from the first to the last local day with any traffic)."""
    return _cell_days(store.fetch(con, "@forecast_hierarchy_cells"), timezone=timezone)


def last_complete_day(data_end: dt.datetime | None, *, timezone: str) -> dt.date | None:
    """The last local day wholly inside the data, which runs up to ``data_end`` (UTC, the end of
    its last hour with traffic): the day before the local day that ``data_end`` falls in (a day
    is complete once its last hour has traffic or a later day has any)."""
    if data_end is None:
        return None
    local = data_end.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone))
    return local.date() - dt.timedelta(days=1)


def _cell_days(hourly: pl.DataFrame, *, timezone: str) -> pl.DataFrame:
    schema = {"region": pl.String, "cell_id": pl.String, "metric": pl.String, "ds": pl.Datetime("us"), "y": pl.Float64}
    if hourly.is_empty():
        return pl.DataFrame(schema=schema)
    daily = (
        hourly.lazy()
        .with_columns(
            ds=pl.col("hour_at")
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(timezone)
            .dt.date()
            .cast(pl.Datetime("us")),
            cell_id=pl.when(pl.col("cell_id") == "").then(pl.lit(NO_CELL)).otherwise(pl.col("cell_id")),
        )
        .group_by("region", "cell_id", "ds")
        .agg(pl.col(m).sum() for m in METRICS)
        .collect()
    )
    days = pl.datetime_range(daily["ds"].min(), daily["ds"].max(), "1d", eager=True).alias("ds").cast(pl.Datetime("us"))
    grid = daily.select("region", "cell_id").unique().join(days.to_frame(), how="cross")
    return (
        grid.join(daily, on=["region", "cell_id", "ds"], how="left")
        .with_columns(pl.col(m).fill_null(0.0) for m in METRICS)
        .unpivot(index=["region", "cell_id", "ds"], on=list(METRICS), variable_name="metric", value_name="y")
        .select(list(schema))
        .sort("metric", "region", "cell_id", "ds")
    )


def node_series(cells: pl.DataFrame) -> pl.DataFrame:
    """Every node's series from :func:`cell_days`: ``metric, level, node_id, region, cell_id, ds, y``."""
    cell = cells.with_columns(level=pl.lit("cell"), node_id=pl.col("region") + "/" + pl.col("cell_id"))
    region = (
        cells.group_by("metric", "region", "ds")
        .agg(pl.col("y").sum())
        .with_columns(level=pl.lit("region"), node_id=pl.col("region"), cell_id=pl.lit(""))
    )
    national = (
        cells.group_by("metric", "ds")
        .agg(pl.col("y").sum())
        .with_columns(level=pl.lit("national"), node_id=pl.lit(TOTAL), region=pl.lit(""), cell_id=pl.lit(""))
    )
    columns = ["metric", "level", "node_id", "region", "cell_id", "ds", "y"]
    order = pl.col("level").replace_strict({lvl: i for i, lvl in enumerate(LEVELS)}, return_dtype=pl.Int8)
    return pl.concat([f.select(columns) for f in (national, region, cell)]).sort(order, "metric", "node_id", "ds")


def structure(nodes: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """The summing matrix (``unique_id`` + one column per cell) and the level tags of one metric's nodes."""
    meta = nodes.select("level", "node_id", "region").unique(maintain_order=True)
    cells = meta.filter(pl.col("level") == "cell")
    regions = meta.filter(pl.col("level") == "region")["node_id"].to_list()
    cell_ids, cell_regions = cells["node_id"].to_list(), np.array(cells["region"].to_list())
    rows = [np.ones(len(cell_ids))] + [(cell_regions == r).astype(float) for r in regions] + list(np.eye(len(cell_ids)))
    matrix = np.vstack(rows)
    s_df = pl.DataFrame(
        {"unique_id": [TOTAL, *regions, *cell_ids], **{c: matrix[:, i] for i, c in enumerate(cell_ids)}}
    )
    tags = {
        "national": np.array([TOTAL]),
        "region": np.array(regions, dtype=object),
        "cell": np.array(cell_ids, dtype=object),
    }
    return s_df, tags


# --- a run ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one hierarchy run fits: the node series, the engine's jobs, the input hash."""

    nodes: pl.DataFrame  # node_series
    jobs: list[Job]  # base forecasts ("fc|metric|node") and backtest forecasts ("bt|metric|node")
    horizon: int
    window: int  # held-out days of the method backtest (0: too short, bottom-up without a backtest)
    input_hash: str
    stored_hash: str | None
    options_hash: str = ""  # the run's options alone (horizon, window, candidates)
    data_end: dt.datetime | None = None  # UTC end of the data's last hour with traffic
    complete_day: dt.date | None = None  # the data's last complete local day (last_complete_day)
    stored_options_hash: str | None = None
    stored_complete_day: dt.date | None = None  # that of the data the stored run saw
    refit_days: int = 7  # ``hierarchy_refit_days``

    @property
    def changed(self) -> bool:
        return self.input_hash != self.stored_hash

    @property
    def due(self) -> bool:
        """A refit after a load is due when the data changed and: there is no stored run (or one
        from before this rule), the options changed, or ``refit_days`` more complete local days
        arrived since the data of the stored run (a load within them keeps the stored totals)."""
        if not self.changed:
            return False
        if self.stored_hash is None or self.stored_options_hash != self.options_hash:
            return True
        if self.stored_complete_day is None or self.complete_day is None:
            return True
        return (self.complete_day - self.stored_complete_day).days >= self.refit_days

    @property
    def stale_days(self) -> int | None:
        """Complete local days the data has beyond those of the stored run (None without one)."""
        if self.stored_complete_day is None or self.complete_day is None:
            return None
        return max((self.complete_day - self.stored_complete_day).days, 0)


def level_options(options: Options, cfg: ForecastSettings) -> dict[str, Options]:
    """The daily run's options with ``hierarchy_models_upper`` for the national total and the
    regions and ``hierarchy_models_cell`` for the cells (each series is fit twice: forecast and
    method backtest, so the daily run's slowest models would double a first start). The daily
    run's combinations are not offered here: each level's candidates are exactly its list."""
    from analytics.forecast.models import models_for

    upper = dataclasses.replace(options, models=tuple(models_for("daily", cfg.hierarchy_models_upper)), combinations=())
    cell = dataclasses.replace(options, models=tuple(models_for("daily", cfg.hierarchy_models_cell)), combinations=())
    return {"national": upper, "region": upper, "cell": cell}


def plan(
    con: duckdb.DuckDBPyConnection,
    *,
    options: Options,
    horizon: int,
    cfg: ForecastSettings,
    timezone: str,
    full: bool = False,
) -> Plan:
    """The hierarchy's series and jobs, read on a (read-only) connection."""
    from analytics.forecast.engine import Job

    hourly = store.fetch(con, "@forecast_hierarchy_cells")
    nodes = node_series(_cell_days(hourly, timezone=timezone))
    data_end = None if hourly.is_empty() else hourly["hour_at"].max() + dt.timedelta(hours=1)
    by_level = level_options(options, cfg)
    n_days = nodes["ds"].n_unique()
    window = cfg.hierarchy_backtest_days
    window = window if n_days - window >= options.min_train + options.backtest_horizon else 0
    salt = json.dumps(
        {"horizon": horizon, "window": window, "options": {k: dataclasses.asdict(v) for k, v in by_level.items()}},
        sort_keys=True,
        default=str,
    )
    options_hash = hashlib.sha256(salt.encode()).hexdigest()
    digest = hashlib.sha256(salt.encode())
    cells = nodes.filter(pl.col("level") == "cell").sort(
        "metric", "node_id", "ds"
    )  # stable across processes and versions
    digest.update("\n".join(cells["metric"] + "|" + cells["node_id"]).encode())
    digest.update(cells["ds"].cast(pl.Int64).to_numpy().tobytes())
    digest.update(cells["y"].to_numpy().tobytes())
    jobs: list[Job] = []
    for (metric, level, node_id, region), part in nodes.group_by(
        ["metric", "level", "node_id", "region"], maintain_order=True
    ):
        ds = part["ds"].to_numpy().astype("datetime64[us]")
        y = part["y"].to_numpy().astype(float)
        opts = by_level[level]
        jobs.append(Job(f"fc|{metric}|{node_id}", region, metric, ds, y, horizon, opts))
        if window:
            jobs.append(Job(f"bt|{metric}|{node_id}", region, metric, ds[:-window], y[:-window], window, opts))
    stored = None if full else _stored_run(con)
    stored_end = (stored or {}).get("data_end_at")
    return Plan(
        nodes=nodes,
        jobs=jobs,
        horizon=horizon,
        window=window,
        input_hash=digest.hexdigest(),
        stored_hash=(stored or {}).get("input_hash"),
        options_hash=options_hash,
        data_end=data_end,
        complete_day=last_complete_day(data_end, timezone=timezone),
        stored_options_hash=(stored or {}).get("options_hash"),
        stored_complete_day=last_complete_day(stored_end, timezone=timezone),
        refit_days=cfg.hierarchy_refit_days,
    )


def _stored_run(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """``input_hash``, ``options_hash``, ``data_end_at`` and ``computed_at`` of the stored run, or None."""
    if not store.has_table(con, "forecast_hierarchy_choice"):
        return None
    frame = store.fetch(con, "@forecast_hierarchy_stored_run")
    if frame.is_empty():
        return None
    row = frame.row(0, named=True)
    return {k: row.get(k) for k in ("input_hash", "options_hash", "data_end_at", "computed_at")}


BANDS: tuple[str, ...] = ("yhat_lower", "yhat_upper", "yhat_lower_95", "yhat_upper_95")


def _frame(results: dict[str, Result], prefix: str, metric: str, ids: list[str]) -> pl.DataFrame:
    """``unique_id, ds, base`` and the base forecast's calibrated bands (``BANDS``) of every node."""
    parts = []
    for node_id in ids:
        r = results[f"{prefix}|{metric}|{node_id}"]
        parts.append(
            pl.DataFrame(
                {
                    "unique_id": node_id,
                    "ds": r.ds.astype("datetime64[us]"),
                    "base": np.asarray(r.forecast["yhat"], dtype=float),
                    **{b: np.asarray(r.forecast[b], dtype=float) for b in BANDS},
                }
            )
        )
    return pl.concat(parts)


def coherent_bands(base: pl.DataFrame, rec: pl.DataFrame) -> pl.DataFrame:
    """``unique_id, ds, yhat`` + ``BANDS``: each node's own calibrated band moved by the change
    that the reconciliation made to its mean (``yhat - base``), and stretched where needed to
    hold the node's own forecast ``base`` too. The band keeps its width and shape, so it holds
    the coherent mean as the base band holds the base mean; the stretch matters where the base
    band is (nearly) zero-wide: a cell of zeros forecast 0 with a band [0, 0], which MinTrace
    moves by a hair, would otherwise exclude every held-out 0. Its coverage of held-out days is
    measured by the method backtest (:func:`band_coverage`)."""
    shift = pl.col("yhat") - pl.col("base")
    lower = [pl.min_horizontal(pl.col(b) + shift, pl.col("base")).alias(b) for b in BANDS if "lower" in b]
    upper = [pl.max_horizontal(pl.col(b) + shift, pl.col("base")).alias(b) for b in BANDS if "upper" in b]
    return (
        base.join(rec, on=["unique_id", "ds"])
        .select("unique_id", "ds", "yhat", *lower, *upper)
        .select("unique_id", "ds", "yhat", *BANDS)
    )


def band_coverage(actual: pl.DataFrame, bands: pl.DataFrame, levels: pl.DataFrame) -> dict[str, float | None]:
    """Share of held-out node-days inside the coherent 80 % band per level (``coverage_80_<level>``),
    their mean over the levels (``coverage_80``; each level counts once, as in :func:`score`)
    and the same mean for the 95 % band (``coverage_95``)."""
    per = (
        actual.join(bands, on=["unique_id", "ds"], how="inner")
        .join(levels, on="unique_id", how="left")
        .group_by("level")
        .agg(
            c80=((pl.col("y") >= pl.col("yhat_lower")) & (pl.col("y") <= pl.col("yhat_upper"))).mean(),
            c95=((pl.col("y") >= pl.col("yhat_lower_95")) & (pl.col("y") <= pl.col("yhat_upper_95"))).mean(),
        )
    )
    out: dict[str, float | None] = {f"coverage_80_{lvl}": None for lvl in LEVELS}
    for row in per.iter_rows(named=True):
        out[f"coverage_80_{row['level']}"] = row["c80"]
    out["coverage_80"] = float(per["c80"].mean()) if per.height else None
    out["coverage_95"] = float(per["c95"].mean()) if per.height else None
    return out


def _insample(nodes: pl.DataFrame) -> pl.DataFrame:
    """``unique_id, ds, y, base``: the weekly naive one-week-ahead fit (mint_shrink's error covariance)."""
    return (
        nodes.select(unique_id="node_id", ds="ds", y="y")
        .with_columns(base=pl.col("y").shift(7).over("unique_id"))
        .drop_nulls()
    )


def _reconcile(
    method: str, base: pl.DataFrame, insample: pl.DataFrame, s_df: pl.DataFrame, tags: dict[str, np.ndarray]
) -> pl.DataFrame:
    """``unique_id, ds, yhat``: ``base`` reconciled by ``method``."""
    from hierarchicalforecast.core import HierarchicalReconciliation

    out = HierarchicalReconciliation([_reconciler(method)]).reconcile(
        Y_hat_df=base, Y_df=insample, S_df=s_df, tags=tags, is_balanced=True
    )
    column = next(c for c in out.columns if c.startswith("base/"))
    return out.select("unique_id", pl.col("ds").cast(pl.Datetime("us")), yhat=pl.col(column).cast(pl.Float64))


def score(actual: pl.DataFrame, forecast: pl.DataFrame, levels: pl.DataFrame) -> dict[str, float | None]:
    """Per level the MAE over its nodes and days (``mae_<level>``) and ``score``: the mean over
    the levels of MAE / mean |actual| (each level counts once, whatever its scale)."""
    joined = (
        actual.join(forecast, on=["unique_id", "ds"], how="inner")
        .join(levels, on="unique_id", how="left")
        .group_by("level")
        .agg(mae=(pl.col("y") - pl.col("yhat")).abs().mean(), scale=pl.col("y").abs().mean())
    )
    out: dict[str, float | None] = {f"mae_{lvl}": None for lvl in LEVELS}
    rel = []
    for row in joined.iter_rows(named=True):
        out[f"mae_{row['level']}"] = row["mae"]
        rel.append(row["mae"] / row["scale"] if row["scale"] else row["mae"])
    out["score"] = float(np.mean(rel)) if rel else None
    return out


def reconcile(p: Plan, results: list[Result], *, seconds: float = 0.0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(values, choice) of a fitted plan: each metric's method chosen by backtest, its coherent forecasts."""
    by_id = {r.unique_id: r for r in results}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values, choice = [], []
    for (metric,), nodes in p.nodes.group_by(["metric"], maintain_order=True):
        s_df, tags = structure(nodes)
        ids = s_df["unique_id"].to_list()
        levels = nodes.select(unique_id="node_id", level="level").unique()
        rows: list[dict[str, Any]] = []
        cutoff = None
        if p.window:
            cut = nodes["ds"].max() - dt.timedelta(days=p.window - 1)
            cutoff = cut
            train, held = nodes.filter(pl.col("ds") < cut), nodes.filter(pl.col("ds") >= cut)
            actual = held.select(unique_id="node_id", ds="ds", y="y")
            bt_base = _frame(by_id, "bt", metric, ids)
            own = bt_base.rename({"base": "yhat"})
            rows.append(
                {"method": "base", **score(actual, own, levels), **band_coverage(actual, own, levels), "error": None}
            )
            for method in METHODS:
                try:
                    rec = _reconcile(method, bt_base.select("unique_id", "ds", "base"), _insample(train), s_df, tags)
                    cover = band_coverage(actual, coherent_bands(bt_base, rec), levels)
                    rows.append({"method": method, **score(actual, rec, levels), **cover, "error": None})
                except Exception as exc:  # a method that cannot reconcile (singular covariance) loses the choice
                    log.warning("hierarchy %s: %s failed in the backtest (%s)", metric, method, exc)
                    rows.append({"method": method, "error": f"{type(exc).__name__}: {exc}"[:300]})
        scored = [r for r in rows if r["method"] != "base" and r.get("score") is not None and np.isfinite(r["score"])]
        chosen = (
            min(scored, key=lambda r: (r["score"], METHODS.index(r["method"])))["method"] if scored else "bottom_up"
        )
        base = _frame(by_id, "fc", metric, ids)
        rec = _reconcile(chosen, base.select("unique_id", "ds", "base"), _insample(nodes), s_df, tags)
        meta = nodes.select("node_id", "level", "region", "cell_id").unique()
        models = pl.DataFrame({"node_id": ids, "base_model": [by_id[f"fc|{metric}|{i}"].model for i in ids]})
        values.append(
            base.select("unique_id", "ds", "base")
            .join(coherent_bands(base, rec), on=["unique_id", "ds"])
            .rename({"unique_id": "node_id", "base": "yhat_base"})
            .join(meta, on="node_id")
            .join(models, on="node_id")
            .with_columns(metric=pl.lit(metric), method=pl.lit(chosen))
        )
        for r in rows or [{"method": "bottom_up", "error": "too short for a backtest"}]:
            choice.append(
                {
                    "metric": metric,
                    "method": r["method"],
                    **{k: r.get(k) for k in ("mae_national", "mae_region", "mae_cell", "score", *COVERAGE)},
                    "is_chosen": r["method"] == chosen,
                    "cutoff_at": cutoff,
                    "window_days": p.window,
                    "nodes": len(ids),
                    "input_hash": p.input_hash,
                    "options_hash": p.options_hash,
                    "data_end_at": p.data_end,
                    "computed_at": now,
                    "seconds": seconds,
                }
            )
    columns = [
        "metric",
        "level",
        "node_id",
        "region",
        "cell_id",
        "ds",
        "yhat_base",
        "yhat",
        *BANDS,
        "method",
        "base_model",
    ]
    value_frame = (
        pl.concat(values).select(columns) if values else pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    )
    choice_frame = pl.DataFrame(
        choice,
        schema_overrides={
            "cutoff_at": pl.Datetime("us"),
            "data_end_at": pl.Datetime("us"),
            **{k: pl.Float64 for k in ("mae_national", "mae_region", "mae_cell", "score", *COVERAGE)},
        },
    )
    return value_frame, choice_frame


def save(con: duckdb.DuckDBPyConnection, values: pl.DataFrame, choice: pl.DataFrame) -> None:
    """Replace the stored hierarchy (a writer connection; one transaction)."""
    ensure_schema(con)
    con.execute("begin")
    for table in TABLES:
        con.execute(f"delete from {table}")  # table: module constant
    persist._insert(con, "forecast_hierarchy_values", values)
    persist._insert(con, "forecast_hierarchy_choice", choice)
    con.execute("commit")


Progress = Callable[[int, int, str], None]


def fit(p: Plan, *, n_jobs: int, progress: Progress | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fit the plan's jobs (worker processes) and reconcile: (values, choice)."""
    from analytics.forecast import workers

    t0 = time.perf_counter()
    results = workers.fit(p.jobs, n_jobs=n_jobs, progress=progress)
    return reconcile(p, results, seconds=time.perf_counter() - t0)


def run(
    con: duckdb.DuckDBPyConnection,
    *,
    options: Options,
    horizon: int,
    cfg: ForecastSettings,
    timezone: str,
    n_jobs: int,
    full: bool = False,
) -> bool:
    """Plan, fit, reconcile and store on one writer connection; False when nothing changed."""
    p = plan(con, options=options, horizon=horizon, cfg=cfg, timezone=timezone, full=full)
    if not p.changed or p.nodes.is_empty():
        return False
    values, choice = fit(p, n_jobs=n_jobs)
    save(con, values, choice)
    return True


# --- reads (page, CLI) ----------------------------------------------------------------------


def _read(con: duckdb.DuckDBPyConnection, name: str, table: str) -> pl.DataFrame:
    if store.has_table(con, table):
        return store.fetch(con, f"@{name}")
    scratch = duckdb.connect(":memory:")  # no run yet: an empty frame with the table's columns
    try:
        ensure_schema(scratch)
        return store.fetch(scratch, f"select * from {table} limit 0")
    finally:
        scratch.close()


def read_values(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per metric per node per future day (coherent ``yhat`` beside ``yhat_base``)."""
    return _read(con, "forecast_hierarchy_read_values", "forecast_hierarchy_values")


def read_choice(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per metric per method: backtest errors by level, the chosen one flagged."""
    return _read(con, "forecast_hierarchy_read_choice", "forecast_hierarchy_choice")


def age(con: duckdb.DuckDBPyConnection, *, timezone: str) -> dict[str, Any] | None:
    """How old the stored coherent totals are: ``computed_at`` (UTC), ``data_day`` (the last
    local day of the data their run saw) and ``days_behind`` (local days of data since then,
    by the stored daily forecasts' cut-off); None before the first run. A load refits them only
    when due (:attr:`Plan.due`), so they may trail the region forecasts by some days."""
    run = _stored_run(con)
    if run is None:
        return None
    end = run.get("data_end_at")
    data_day = None if end is None else last_complete_day(end, timezone=timezone) + dt.timedelta(days=1)
    cutoff = persist.read_series(con, "daily")["data_cutoff"].max() if persist.has_tables(con) else None
    behind = None if data_day is None or cutoff is None else max((cutoff.date() - data_day).days, 0)
    return {"computed_at": run.get("computed_at"), "data_day": data_day, "days_behind": behind}


def read_check(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per metric per parent per day: its forecast, the sum of its children's, the difference."""
    if not store.has_table(con, "forecast_hierarchy_values"):
        return pl.DataFrame(
            schema={
                "metric": pl.String,
                "level": pl.String,
                "node_id": pl.String,
                "ds": pl.Datetime("us"),
                "parent_yhat": pl.Float64,
                "children_yhat": pl.Float64,
                "children": pl.Int64,
                "abs_diff": pl.Float64,
            }
        )
    return store.fetch(con, "@forecast_hierarchy_check")


def history(
    con: duckdb.DuckDBPyConnection, *, node_id: str, metric: str, timezone: str, days: int = 90
) -> pl.DataFrame:
    """The last ``days`` observed days of one node: ``ds, y``."""
    nodes = node_series(cell_days(con, timezone=timezone))
    hist = nodes.filter((pl.col("node_id") == node_id) & (pl.col("metric") == metric)).select("ds", "y")
    if hist.height:
        hist = hist.filter(pl.col("ds") > hist["ds"].max() - dt.timedelta(days=days))
    return hist


def payload(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The CLI's ``total`` key: the national forecast per metric with its method, and the
    coherent regions and cells; None before the first hierarchy run."""
    values = read_values(con)
    if values.is_empty():
        return None
    choice = read_choice(con).filter(pl.col("is_chosen"))
    check = read_check(con)

    def points(part: pl.DataFrame) -> list[dict[str, Any]]:
        return [
            {
                "ds": r["ds"].strftime("%Y-%m-%d"),
                "yhat": r["yhat"],
                "yhat_base": r["yhat_base"],
                **{b: r.get(b) for b in BANDS},  # added with the coherent bands (None from an older run)
            }
            for r in part.sort("ds").iter_rows(named=True)
        ]

    def nodes(level: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        part = values.filter(pl.col("level") == level)
        return [
            {**dict(zip(keys, key, strict=True)), "forecast": points(group)}
            for key, group in part.group_by(list(keys), maintain_order=True)
        ]

    methods = {r["metric"]: r for r in choice.iter_rows(named=True)}
    return {
        "freq": "daily",
        "metrics": [
            {
                "metric": m["metric"],
                "method": methods.get(m["metric"], {}).get("method"),
                "score": methods.get(m["metric"], {}).get("score"),
                "forecast": m["forecast"],
            }
            for m in nodes("national", ("metric",))
        ],
        "regions": nodes("region", ("region", "metric")),
        "cells": nodes("cell", ("region", "cell_id", "metric")),
        "max_abs_diff": float(check["abs_diff"].max() or 0.0) if check.height else 0.0,
    }

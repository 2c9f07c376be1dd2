"""Fixture builders shared by the marketing tests (no tests here).

Warehouses are real DuckDB files written through ``store.writer`` with rows inserted
into the schema tables (the ingest API is not used so these tests do not depend on it).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl

from analytics import store
from analytics.config import settings
from analytics.ingest import cubes

BANDICOOT = Path("/work/shared/samples/bandicoot")

RECORD_SCHEMA = pl.Schema(
    {
        "record_id": pl.String,
        "start_at": pl.Datetime("us"),
        "msisdn": pl.String,
        "other_party": pl.String,
        "service": pl.String,
        "direction": pl.String,
        "duration_s": pl.Int32,
        "cell_id": pl.String,
        "region": pl.String,
        "charge": pl.Decimal(18, 4),
        "disposition": pl.String,
        "bytes_up": pl.Int64,
        "bytes_down": pl.Int64,
        "is_roaming": pl.Boolean,
        "destination_country": pl.String,
        "currency": pl.String,
        "plan_id": pl.String,
        "imsi": pl.String,
        "imei": pl.String,
        "load_id": pl.Int64,
        "source_line": pl.Int64,
    }
)

DEFAULTS = {
    "other_party": "+440000000",
    "direction": "out",
    "duration_s": 0,
    "cell_id": "C1",
    "region": "NORTH",
    "charge": Decimal("0"),
    "disposition": "answered",
    "bytes_up": 0,
    "bytes_down": 0,
    "is_roaming": False,
    "destination_country": "GB",
    "currency": "GBP",
    "plan_id": None,
    "imsi": None,
    "imei": None,
    "load_id": 1,
}


def records_frame(rows: list[dict]) -> pl.DataFrame:
    """Records-table rows from partial dicts (record_id, start_at, msisdn, service at least)."""
    full = []
    for i, row in enumerate(rows, start=1):
        r = {**DEFAULTS, "source_line": i, **row}
        if isinstance(r["start_at"], str):
            r["start_at"] = dt.datetime.fromisoformat(r["start_at"])
        if r.get("charge") is not None and not isinstance(r["charge"], Decimal):
            r["charge"] = Decimal(str(r["charge"]))
        full.append(r)
    return pl.DataFrame(full, schema=RECORD_SCHEMA) if full else pl.DataFrame(schema=RECORD_SCHEMA)


def bandicoot_records(user: str, directory: Path = BANDICOOT) -> pl.DataFrame:
    """A bandicoot user file as records rows: call -> voice, text -> sms, antenna -> cell."""
    raw = pl.read_csv(directory / f"{user}.csv", infer_schema=False)
    rows = [
        {
            "record_id": f"{user}-{i}",
            "start_at": dt.datetime.strptime(r["datetime"], "%Y-%m-%d %H:%M:%S"),
            "msisdn": user,
            "other_party": r["correspondent_id"],
            "service": {"call": "voice", "text": "sms"}[r["interaction"]],
            "direction": r["direction"],
            "duration_s": int(r["call_duration"] or 0),
            "cell_id": r["antenna_id"] or None,
            "charge": None,
        }
        for i, r in enumerate(raw.iter_rows(named=True), start=1)
    ]
    return records_frame(rows)


def bandicoot_cells(directory: Path = BANDICOOT) -> pl.DataFrame:
    raw = pl.read_csv(directory / "towers.csv", infer_schema=False)
    return raw.filter(pl.col("latitude").is_not_null()).select(
        pl.col("antenna_id").str.strip_chars().alias("cell_id"),
        pl.lit("NORTH").alias("region"),
        pl.col("latitude").str.strip_chars().cast(pl.Float64).alias("lat"),
        pl.col("longitude").str.strip_chars().cast(pl.Float64).alias("lon"),
    )


PLAN_COLUMNS = (
    "plan_id",
    "name",
    "monthly_fee",
    "incl_voice_min",
    "incl_sms",
    "incl_data_mb",
    "voice_per_min",
    "sms_each",
    "data_per_mb",
    "intl_voice_per_min",
    "roaming_voice_per_min",
    "roaming_data_per_mb",
)


def plans_frame(rows: list[tuple]) -> pl.DataFrame:
    money = pl.Decimal(18, 4)
    data = [dict(zip(PLAN_COLUMNS, row, strict=False)) for row in rows]
    df = pl.DataFrame(data, infer_schema_length=None)
    return df.with_columns(
        pl.col(c).cast(pl.String).cast(money)
        for c in (
            "monthly_fee",
            "voice_per_min",
            "sms_each",
            "data_per_mb",
            "intl_voice_per_min",
            "roaming_voice_per_min",
            "roaming_data_per_mb",
        )
    )


def make_warehouse(
    path: Path,
    records: pl.DataFrame,
    *,
    cells: pl.DataFrame | None = None,
    plans: pl.DataFrame | None = None,
    subscribers: pl.DataFrame | None = None,
) -> Path:
    """A warehouse file holding these rows (cells default to the cells the records name)."""
    if cells is None:
        ids = records.select(pl.col("cell_id").drop_nulls().unique()).to_series().to_list()
        cells = pl.DataFrame(
            {"cell_id": ids, "region": ["NORTH"] * len(ids), "lat": [51.5] * len(ids), "lon": [-0.1] * len(ids)},
            schema={"cell_id": pl.String, "region": pl.String, "lat": pl.Float64, "lon": pl.Float64},
        )
    with store.writer(path) as con:
        con.execute("begin")
        rows = records.select(RECORD_SCHEMA.names())
        for (load_id,), part in rows.partition_by("load_id", as_dict=True).items() if rows.height else ():
            store.append_records(con, part, load_id=load_id)
        # the cubes the product's loads keep (pages read their month pickers from them)
        for load_id, lo, hi in con.execute(
            "select load_id, min(start_at), max(start_at) from records group by load_id order by load_id"
        ).fetchall():
            cubes.refresh_cubes(
                con, load_id=load_id, lo=lo, hi=hi, timezone=settings().timezone, home_country=settings().home_country
            )
        con.register("fixture_cells", cells)
        con.execute("insert into cells (cell_id, region, lat, lon) select cell_id, region, lat, lon from fixture_cells")
        if plans is not None:
            con.register("fixture_plans", plans.select(PLAN_COLUMNS))
            con.execute(f"insert into plans ({', '.join(PLAN_COLUMNS)}) select * from fixture_plans")
        if subscribers is not None:
            con.register("fixture_subs", subscribers)
            con.execute("insert into subscribers (msisdn, plan_id) select msisdn, plan_id from fixture_subs")
        con.execute("commit")
    return path

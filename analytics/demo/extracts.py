"""Writing the demo world as cdr-extract v1 files, with data-quality problems injected.

One extract file per UTC day (``cdr_YYYYMMDD.csv`` mostly, some ``.csv.gz``, a few
``.parquet``). Per file, drawn from the seed: the ``start_time`` form (``Z``, a
Europe/London offset ``+01:00``/``+00:00``, no offset = UTC, or a per-row mix), the
``roaming`` spelling (``true/false`` or ``1/0``), whether the optional ``plan_id`` column
is there (and if so, filled on about 70 % of rows), a shuffled column order, and an
unknown extra column (``switch_id``).

Injected problems: bad rows, each breaking exactly one contract rule (written only to
CSV files, as text), and duplicates: a record delivered again in a later file (or the
same file when it is the last day).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from analytics.ingest.reader import CONTRACT_COLUMNS

log = logging.getLogger(__name__)

COLUMNS = list(CONTRACT_COLUMNS)  # the v1 layout, in the contract's order
# reason -> (column, bad value); each row breaks that rule only
BAD_ROWS: dict[str, tuple[str, str]] = {
    "missing:msisdn": ("msisdn", ""),
    "missing:other_party": ("other_party", ""),
    "bad_enum:service": ("service", "fax"),
    "bad_enum:direction": ("direction", "both"),
    "bad_enum:disposition": ("disposition", "hung_up"),
    "negative:duration_s": ("duration_s", "-42"),
    "negative:bytes_down": ("bytes_down", "-1"),
    "not_a_number:duration_s": ("duration_s", "12s"),
    "not_a_number:charge": ("charge", "1,20"),
    "bad_timestamp:start_time": ("start_time", "31/07/2026 10:22:01"),
    "unknown_cell:cell_id": ("cell_id", "ZZZ999X"),
}
BAD_ROW_RATE = 0.00003  # per reason, of all records


def _charge_text(pence: pl.Expr) -> pl.Expr:
    return pl.concat_str((pence // 100).cast(pl.String), pl.lit("."), (pence % 100).cast(pl.String).str.zfill(2))


def _start_time(form: str) -> pl.Expr:
    utc = pl.col("start_at")
    if form == "z":
        return utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "offset":
        return utc.dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/London").dt.strftime("%Y-%m-%d %H:%M:%S%:z")
    if form == "naive":
        return utc.dt.strftime("%Y-%m-%d %H:%M:%S")
    k = pl.col("_row") % 3  # mixed, row by row
    return (
        pl.when(k == 0).then(_start_time("z")).when(k == 1).then(_start_time("offset")).otherwise(_start_time("naive"))
    )


def text_rows(records: pl.DataFrame, *, form: str, roaming_01: bool, plan_mask: pl.Expr | None) -> pl.DataFrame:
    """The v1 columns as text for one file (``records`` carries ``start_at``, ``charge_p``...)."""
    roaming = (
        pl.when(pl.col("is_roaming"))
        .then(pl.lit("1" if roaming_01 else "true"))
        .otherwise(pl.lit("0" if roaming_01 else "false"))
    )
    out = records.with_row_index("_row").with_columns(
        start_time=_start_time(form),
        charge=_charge_text(pl.col("charge_p")),
        roaming=roaming,
        currency=pl.lit("GBP"),
        plan_id=pl.col("plan_id") if plan_mask is None else pl.when(plan_mask).then(pl.col("plan_id")),
    )
    return out.select([pl.col(c).cast(pl.String) for c in COLUMNS])


def bad_rows(rng: np.random.Generator, records: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Bad rows (text, with ``_day`` of the file they go to) made from clean home voice records."""
    per_reason = max(2, int(round(BAD_ROW_RATE * len(records))))
    donors = records.filter(
        ~pl.col("is_roaming") & (pl.col("service") == "voice") & (pl.col("disposition") == "answered")
    )
    picks = rng.choice(len(donors), size=per_reason * len(BAD_ROWS), replace=len(donors) < per_reason * len(BAD_ROWS))
    rows = text_rows(donors[np.sort(picks)], form="z", roaming_01=False, plan_mask=None).with_columns(
        _day=donors["_day"].gather(np.sort(picks))
    )
    reasons = np.repeat(list(BAD_ROWS), per_reason)
    rng.shuffle(reasons)
    pieces = []
    for reason in BAD_ROWS:
        col, value = BAD_ROWS[reason]
        idx = np.flatnonzero(reasons == reason)
        pieces.append(rows[idx].with_columns(pl.lit(value).alias(col)))
    bad = (
        pl.concat(pieces)
        .with_row_index("_k")
        .with_columns(record_id=pl.concat_str(pl.lit("DMBAD"), pl.col("_k").cast(pl.String).str.zfill(6)))
        .drop("_k")
    )
    return bad, {r: per_reason for r in BAD_ROWS}


def write_files(
    rng: np.random.Generator,
    records: pl.DataFrame,
    out_dir: Path,
    *,
    dup_rows: np.ndarray,
    days: list[str],
    on_file=None,
) -> tuple[list[Path], dict[str, int], int]:
    """Write one file per day; returns (paths, bad rows per reason, duplicate rows written).

    ``records`` has ``_day`` (index into ``days``), sorted by time. ``dup_rows`` are the
    positions of records to deliver twice.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("cdr_*"):
        old.unlink()
    n_days = len(days)
    kind = rng.choice(["csv", "gz", "parquet"], size=n_days, p=[0.72, 0.2, 0.08])
    if n_days >= 3:
        kind[0], kind[1], kind[2] = "csv", "gz", "parquet"
    form = rng.choice(["z", "offset", "naive", "mixed"], size=n_days, p=[0.35, 0.35, 0.2, 0.1])
    if n_days >= 4:
        form[:4] = ["z", "offset", "naive", "mixed"]
    if n_days >= 8:  # and the last day with its offset: a period across a DST change shows both
        form[-1] = "offset"
    shuffle = rng.random(n_days) < 0.15
    extra = rng.random(n_days) < 0.12
    no_plan = rng.random(n_days) < 0.4
    roaming_01 = rng.random(n_days) < 0.3

    bad, bad_counts = bad_rows(rng, records)
    bad_day = bad["_day"].to_numpy().copy()
    csv_days = np.flatnonzero(kind != "parquet")
    bad_day = np.where(
        kind[bad_day] == "parquet", csv_days[np.searchsorted(csv_days, bad_day).clip(0, len(csv_days) - 1)], bad_day
    )
    bad = bad.drop("_day")
    dups = records[dup_rows]
    dup_day = np.minimum(dups["_day"].to_numpy() + rng.integers(1, 4, len(dups)), n_days - 1)
    dups = dups.with_columns(_day=pl.Series(dup_day, dtype=pl.Int32))
    # records are sorted by time, so each day is a contiguous (zero-copy) slice
    bounds = np.searchsorted(records["_day"].to_numpy(), np.arange(n_days + 1))
    dup_parts = dups.partition_by("_day", as_dict=True, maintain_order=True)

    paths = []
    for d in range(n_days):
        day_records = (
            records.slice(int(bounds[d]), int(bounds[d + 1] - bounds[d])) if bounds[d + 1] > bounds[d] else None
        )
        frames = [x for x in (day_records, dup_parts.get((d,))) if x is not None]
        if not frames:
            continue
        plan_mask = None if not no_plan[d] else pl.lit(False)
        if plan_mask is None and rng.random() < 0.7:
            plan_mask = (pl.col("_row").cast(pl.Int64) * 2654435761 % 10) < 7
        frame = text_rows(
            pl.concat(frames, how="vertical_relaxed"),
            form=str(form[d]),
            roaming_01=bool(roaming_01[d]),
            plan_mask=plan_mask,
        )
        if no_plan[d]:
            frame = frame.drop("plan_id")
        if kind[d] != "parquet":
            mine = bad.filter(pl.Series(bad_day) == d)
            if len(mine):
                mine = mine.select(frame.columns)
                at = np.sort(rng.integers(0, len(frame) + 1, len(mine)))
                frame = (
                    pl.concat(
                        [
                            frame.with_row_index("_o").with_columns(pl.col("_o") * 2 + 1),
                            mine.with_row_index("_o").with_columns(pl.Series("_o", at * 2, dtype=pl.UInt32)),
                        ],
                        how="vertical_relaxed",
                    )
                    .sort("_o")
                    .drop("_o")
                )
        if extra[d]:
            frame = frame.with_columns(
                switch_id=pl.concat_str(pl.lit("MSC"), (pl.int_range(pl.len()) % 7 + 1).cast(pl.String))
            )
        if shuffle[d]:
            cols = list(frame.columns)
            rng.shuffle(cols)
            frame = frame.select(cols)
        stem = out_dir / f"cdr_{days[d].replace('-', '')}"
        if kind[d] == "parquet":
            path = stem.with_suffix(".parquet")
            typed = frame.with_columns(
                [pl.col(c).cast(pl.Int64) for c in ("duration_s", "bytes_up", "bytes_down")]
                + [pl.col("charge").cast(pl.Decimal(18, 2))]
            )
            typed.write_parquet(path)
        elif kind[d] == "gz":
            path = stem.with_suffix(".csv.gz")
            frame.write_csv(path, compression="gzip", compression_level=3)
        else:
            path = stem.with_suffix(".csv")
            frame.write_csv(path)
        paths.append(path)
        if on_file is not None:
            on_file(d + 1, n_days)
    return paths, bad_counts, len(dups)

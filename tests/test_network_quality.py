"""Network quality KPIs, the worst-cells ranking and incident detection on tiny frames
whose answers are computed by hand (analytics.network, issue 22 part 4)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.live import kpis as live_kpis
from analytics.network.incidents import INCIDENT_SCHEMA, detect, mark_bill
from analytics.network.kpis import ADDITIVE, rank_cells, with_kpis

T0 = dt.datetime(2026, 3, 2)  # a Monday, UTC
OPTS = live_kpis.options({"history_weeks": 4, "min_history_weeks": 2, "band_k": 3.0, "min_attempts": 10})


def counts(**kw: int) -> dict[str, int]:
    return {c: kw.get(c, 0) for c in ADDITIVE}


def test_kpis_follow_the_live_definitions_plus_the_short_call_ratio() -> None:
    rows = pl.DataFrame(
        [
            # 20 attempts: 12 answered + 2 dropped = 14 connected, 3 no_answer + 1 busy, 2 failed; 7 short
            counts(attempts=20, connected=14, reached_unanswered=4, failed=2, dropped=2, short_calls=7),
            counts(),  # no call: every ratio is null, not 0
        ]
    )
    got = (
        with_kpis(rows.lazy()).select("call_attempts", "asr", "ner", "dropped_call_rate", "short_call_ratio").collect()
    )
    want = pl.DataFrame(
        {
            "call_attempts": [20.0, 0.0],
            "asr": [14 / 20, None],
            "ner": [18 / 20, None],
            "dropped_call_rate": [2 / 14, None],
            "short_call_ratio": [7 / 14, None],
        }
    )
    assert_frame_equal(got, want)


def hourly_rows(spec: list[tuple[str, str, dt.datetime, int, int, int]]) -> pl.DataFrame:
    """(region, cell, hour, attempts, connected, dropped) -> mart rows."""
    return pl.DataFrame(
        [
            {
                "hour_at": h,
                "region": r,
                "cell_id": c,
                **counts(
                    records=a,
                    attempts=a,
                    connected=k,
                    dropped=d,
                    reached_unanswered=a - k - (a - k) // 2,
                    failed=(a - k) // 2,
                ),
            }
            for r, c, h, a, k, d in spec
        ],
        schema_overrides={"hour_at": pl.Datetime("us")},
    )


def test_worst_cells_rank_by_the_period_ratio_with_a_daily_trend() -> None:
    d1, d2, d3 = T0, T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2)
    rows = hourly_rows(
        [
            # cell A: 1, 2, 3 dropped of 10 connected per day -> 6/30 = 0.2, trend +0.1 a day
            ("N", "A", d1, 10, 10, 1),
            ("N", "A", d2, 10, 10, 2),
            ("N", "A", d3, 10, 10, 3),
            # cell B: 3, 0, 0 of 10 -> 3/30 = 0.1, trend -0.15 a day
            ("N", "B", d1, 10, 10, 3),
            ("N", "B", d2, 10, 10, 0),
            ("N", "B", d3, 10, 10, 0),
            # cell C: 5 of 5 dropped but only 5 calls: below min_attempts, not ranked
            ("S", "C", d1, 5, 5, 5),
            # roaming rows (no cell) are no cell of ours
            ("ROAMING", "", d1, 50, 50, 50),
        ]
    )
    got = rank_cells(rows.lazy(), rank_by="dropped_call_rate", min_attempts=30, limit=10)
    assert got["cell_id"].to_list() == ["A", "B"]
    assert got["rank"].to_list() == [1, 2]
    assert got["dropped_call_rate"].to_list() == pytest.approx([0.2, 0.1])
    assert got["trend"].to_list() == [pytest.approx([0.1, 0.2, 0.3]), pytest.approx([0.3, 0.0, 0.0])]
    assert got["trend_per_day"].to_list() == pytest.approx([0.1, -0.15])
    # ASR: the lower the worse; both at 1.0, the busier (then the first by name) first
    assert rank_cells(rows.lazy(), rank_by="asr", min_attempts=30)["cell_id"].to_list() == ["A", "B"]
    with pytest.raises(ValueError, match="unknown rank KPI"):
        rank_cells(rows.lazy(), rank_by="charge")


def weeks_of_traffic(
    *,
    days: int = 22,
    cells: tuple[str, ...] = ("A", "B"),
    skip_hours: tuple[dt.datetime, ...] = (),
    override: dict[tuple[str, dt.datetime], tuple[int, int]] | None = None,
) -> pl.DataFrame:
    """Every hour of ``days`` days: each cell of region N 20 calls, 16 connected (ASR 0.8),
    except ``override`` (cell, hour) -> (attempts, connected) and ``skip_hours`` (no record at all)."""
    override = override or {}
    spec = []
    for h in range(days * 24):
        hour = T0 + dt.timedelta(hours=h)
        if hour in skip_hours:
            continue
        for c in cells:
            a, k = override.get((c, hour), (20, 16))
            if a:
                spec.append(("N", c, hour, a, k, 0))
    return hourly_rows(spec)


LAST_DAY = T0 + dt.timedelta(days=21)


def test_three_hours_of_failed_calls_are_one_cell_incident_and_one_region_incident() -> None:
    outage = {("A", LAST_DAY + dt.timedelta(hours=h)): (20, 0) for h in (10, 11, 12)}
    got = detect(weeks_of_traffic(override=outage), judge_from=LAST_DAY, opts=OPTS)
    start, end = LAST_DAY + dt.timedelta(hours=10), LAST_DAY + dt.timedelta(hours=13)
    want = pl.DataFrame(
        {
            "incident_id": ["cell:N:A:2026-03-23T10:00", "region:N::2026-03-23T10:00"],
            "level": ["cell", "region"],
            "region": ["N", "N"],
            "cell_id": ["A", None],
            "start_at": [start, start],
            "end_at": [end, end],
            "hours": [3, 3],
            "kpis": ["asr low", "asr low"],
            "attempts": [60, 120],  # the cell's 3 x 20 calls; the region's 3 x 40
            "expected_attempts": [60.0, 120.0],
            "asr": [0.0, 48 / 120],  # cell B still connects 16 of 20
            "expected_asr": [0.8, 0.8],
        },
        schema=INCIDENT_SCHEMA,
    )
    assert_frame_equal(got, want)


def test_a_silent_cell_is_a_traffic_incident_and_a_gap_in_the_data_is_none() -> None:
    silent = {("A", LAST_DAY + dt.timedelta(hours=h)): (0, 0) for h in (3, 4)}  # A has no record at all
    gap = (LAST_DAY + dt.timedelta(hours=20),)  # no record anywhere: a missing file, not an outage
    got = detect(weeks_of_traffic(override=silent, skip_hours=gap), judge_from=LAST_DAY, opts=OPTS)
    cell = got.filter(pl.col("level") == "cell")
    assert cell.select("cell_id", "start_at", "end_at", "hours", "kpis", "attempts").rows() == [
        ("A", LAST_DAY + dt.timedelta(hours=3), LAST_DAY + dt.timedelta(hours=5), 2, "call_attempts low", 0)
    ]
    # the region: 20 calls where 40 are expected, band 40 - 3 sqrt(40) = 21.0: low too, same hours
    assert got.filter(pl.col("level") == "region").select("start_at", "hours", "kpis").rows() == [
        (LAST_DAY + dt.timedelta(hours=3), 2, "call_attempts low")
    ]


def test_ordinary_noise_and_a_single_quiet_hour_raise_nothing() -> None:
    # 15 of 20 connected (0.75 vs 0.8: inside the ratio band) and 14 calls (band 20 +- 13.4)
    noise = {("A", LAST_DAY + dt.timedelta(hours=9)): (20, 15), ("B", LAST_DAY + dt.timedelta(hours=9)): (14, 11)}
    got = detect(weeks_of_traffic(override=noise), judge_from=LAST_DAY, opts=OPTS)
    assert got.is_empty() and got.schema == pl.Schema(INCIDENT_SCHEMA)


def test_two_outages_an_hour_apart_are_two_incidents_and_one_week_of_history_judges_nothing() -> None:
    outage = {("A", LAST_DAY + dt.timedelta(hours=h)): (20, 0) for h in (1, 2, 4)}
    got = detect(weeks_of_traffic(override=outage, cells=("A",)), judge_from=LAST_DAY, opts=OPTS)
    assert got.filter(pl.col("level") == "cell").select("start_at", "hours").rows() == [
        (LAST_DAY + dt.timedelta(hours=1), 2),
        (LAST_DAY + dt.timedelta(hours=4), 1),
    ]
    # the same outage in the second week: only one week before it, below min_history_weeks (2)
    early = {("A", T0 + dt.timedelta(days=7, hours=h)): (20, 0) for h in (1, 2)}
    got = detect(weeks_of_traffic(override=early, days=8), judge_from=T0, opts=OPTS)
    assert got.is_empty()


def test_the_lookup_marks_the_records_inside_an_incident() -> None:
    bill = pl.DataFrame({"record_id": ["r1", "r2", "r3"], "billed": [1.0, 2.0, 3.0]})
    marks = pl.DataFrame(
        {
            "record_id": ["r2"],
            "incident_id": ["cell:N:A:2026-03-23T10:00"],
            "cell_id": ["A"],
            "incident_start_at": [dt.datetime(2026, 3, 23, 10)],
            "incident_end_at": [dt.datetime(2026, 3, 23, 13)],
            "incident_kpis": ["asr low"],
        }
    )
    got = mark_bill(bill, marks)
    assert got["in_incident"].to_list() == [False, True, False]
    assert got["incident"].to_list() == [None, "cell A: asr low, 2026-03-23 10:00-13:00 UTC", None]
    assert got.select("record_id", "billed").equals(bill)  # the bill itself is untouched

"""analytics.calendar: month parsing, shifting and local-month UTC bounds (tiny cases)."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.calendar import local_month, month_bounds, next_month, parse_month, shift_month


@pytest.mark.parametrize(
    ("text", "month"),
    [
        ("2026-03", dt.date(2026, 3, 1)),
        (" 2026-12 ", dt.date(2026, 12, 1)),
        (dt.date(2026, 2, 17), dt.date(2026, 2, 1)),
    ],
)
def test_parse_month(text, month):
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-3", "April", "", "2026-03-01", None])
def test_parse_month_refuses_with_the_expected_form(text):
    with pytest.raises(ValueError, match="expected YYYY-MM"):
        parse_month(text)


@pytest.mark.parametrize(
    ("month", "n", "shifted"),
    [
        (dt.date(2026, 1, 1), 1, dt.date(2026, 2, 1)),
        (dt.date(2026, 12, 1), 1, dt.date(2027, 1, 1)),
        (dt.date(2026, 1, 1), -1, dt.date(2025, 12, 1)),
        (dt.date(2026, 3, 1), -14, dt.date(2025, 1, 1)),
        (dt.date(2026, 3, 1), 0, dt.date(2026, 3, 1)),
    ],
)
def test_shift_month(month, n, shifted):
    assert shift_month(month, n) == shifted


def test_next_month_is_a_shift_of_one():
    assert next_month(dt.date(2026, 12, 1)) == dt.date(2027, 1, 1)


@pytest.mark.parametrize(
    ("tz", "month", "start", "end"),
    [
        ("UTC", dt.date(2026, 3, 1), dt.datetime(2026, 3, 1), dt.datetime(2026, 4, 1)),
        # London enters summer time on 29 March 2026: April starts at 23:00 UTC the day before
        ("Europe/London", dt.date(2026, 3, 1), dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 31, 23)),
        ("Europe/London", dt.date(2026, 10, 1), dt.datetime(2026, 9, 30, 23), dt.datetime(2026, 11, 1)),
        ("America/New_York", dt.date(2026, 12, 1), dt.datetime(2026, 12, 1, 5), dt.datetime(2027, 1, 1, 5)),
        ("Asia/Kolkata", dt.date(2026, 1, 1), dt.datetime(2025, 12, 31, 18, 30), dt.datetime(2026, 1, 31, 18, 30)),
    ],
)
def test_month_bounds_are_utc_naive_and_dst_aware(tz, month, start, end):
    assert month_bounds(month, tz) == (start, end)


@pytest.mark.parametrize(
    ("at", "tz", "month"),
    [
        (dt.datetime(2026, 3, 31, 23, 30), "UTC", dt.date(2026, 3, 1)),
        (dt.datetime(2026, 3, 31, 23, 30), "Europe/London", dt.date(2026, 4, 1)),
        (dt.datetime(2026, 1, 1, 3), "America/New_York", dt.date(2025, 12, 1)),
    ],
)
def test_local_month_of_a_utc_instant(at, tz, month):
    assert local_month(at, tz) == month

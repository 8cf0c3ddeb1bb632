"""The canonical payload's timestamp helpers (http/ingress/canonical.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.http.ingress.canonical import normalized_rfc3339, unix_rfc3339

# datetime's range on this platform, with a margin: year 1 .. 9999.
SECONDS = st.floats(min_value=-62_000_000_000, max_value=253_000_000_000, allow_nan=False)


@given(SECONDS)
def test_unix_timestamps_read_as_datetime_would_write_them(seconds: float) -> None:
    assert unix_rfc3339(seconds) == datetime.fromtimestamp(seconds, UTC).isoformat()


@given(st.integers(min_value=-62_000_000_000, max_value=253_000_000_000))
def test_whole_seconds_have_no_fraction(seconds: int) -> None:
    assert unix_rfc3339(seconds) == datetime.fromtimestamp(seconds, UTC).isoformat()


def test_rounding_half_even_to_the_microsecond_and_across_the_second() -> None:
    for seconds in (1.5e-6, 2.5e-6, 1_700_000_000.9999996, -0.5, -1e-7, 0.0):
        assert unix_rfc3339(seconds) == datetime.fromtimestamp(seconds, UTC).isoformat()


def test_consecutive_calls_in_one_second_and_the_next() -> None:
    """The cached second must never leak into the next one."""
    assert unix_rfc3339(1_700_000_000.25) == "2023-11-14T22:13:20.250000+00:00"
    assert unix_rfc3339(1_700_000_000.5) == "2023-11-14T22:13:20.500000+00:00"
    assert unix_rfc3339(1_700_000_001) == "2023-11-14T22:13:21+00:00"
    assert unix_rfc3339(1_700_000_000.75) == "2023-11-14T22:13:20.750000+00:00"


def test_channel_timestamps_are_normalized_to_utc() -> None:
    assert normalized_rfc3339("2024-05-01T10:00:00Z") == "2024-05-01T10:00:00+00:00"
    assert normalized_rfc3339("2024-05-01T12:00:00.5+02:00") == "2024-05-01T10:00:00.500000+00:00"
    assert normalized_rfc3339("2024-05-01T10:00:00") == "2024-05-01T10:00:00+00:00"  # naive = UTC


def test_missing_or_unparsable_channel_timestamps_are_none() -> None:
    for value in (None, "", "yesterday", "2024-13-01T00:00:00Z"):
        assert normalized_rfc3339(value) is None

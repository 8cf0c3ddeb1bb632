"""The canonical payload's helpers (http/ingress/canonical.py): timestamps, request
metadata, provider ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.http.ingress import canonical
from greentic_runner.http.ingress.canonical import (
    ProviderIds,
    normalized_rfc3339,
    request_metadata,
    unix_rfc3339,
)

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


def plain_metadata(headers: list[tuple[bytes, bytes]], ip: str | None) -> dict[str, object]:
    """request_metadata written the obvious way (the reference for the remembered one)."""
    hidden = {"authorization", "proxy-authorization", "cookie", "x-slack-signature"}
    hidden |= {"x-hub-signature", "x-hub-signature-256", "x-spark-signature"}
    hidden.add("x-telegram-bot-api-secret-token")
    raw = {}
    for name, value in headers:
        if name.decode("latin-1").lower() not in hidden:
            raw[name.decode("latin-1").lower()] = value.decode("latin-1")
    return {"raw_headers": raw, "ip": ip}


HEADER_NAMES = st.sampled_from(
    [b"host", b"Content-Type", b"authorization", b"Cookie", b"X-Hub-Signature-256", b"x-id"]
)
HEADERS = st.lists(st.tuples(HEADER_NAMES | st.binary(min_size=1, max_size=8), st.binary()))


@given(HEADERS)
def test_request_metadata_hides_credentials_and_lowercases_names(
    headers: list[tuple[bytes, bytes]],
) -> None:
    assert request_metadata(headers, "10.0.0.1") == plain_metadata(headers, "10.0.0.1")
    assert request_metadata(headers, None) == plain_metadata(headers, None)  # remembered
    pairs_as_lists = [[name, value] for name, value in headers]
    assert request_metadata(pairs_as_lists, None) == plain_metadata(headers, None)  # type: ignore[arg-type]


def test_remembered_header_pairs_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canonical._DecodedHeaders, "LIMIT", 3)
    for number in range(10):
        headers = [(b"x-request-id", str(number).encode()), (b"cookie", b"secret")]
        metadata = request_metadata(headers, None)
        assert metadata["raw_headers"] == {"x-request-id": str(number)}
        assert len(canonical._DECODED_HEADERS) <= 3


IDS = st.builds(ProviderIds, *[st.none() | st.text(max_size=3) for _ in range(8)])


@given(IDS)
def test_provider_ids_payload_lists_the_set_ids_in_field_order(ids: ProviderIds) -> None:
    names = ["team_id", "workspace_id", "conversation_id", "thread_id"]
    names += ["channel_id", "user_id", "message_id", "event_id"]
    expected = {name: getattr(ids, name) for name in names if getattr(ids, name) is not None}
    assert ids.to_dict() == expected
    assert list(ids.to_dict()) == list(expected)

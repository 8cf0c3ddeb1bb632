"""IdentifyInstanceHint validation (describe-identify-instance)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.components.world_provider import parse_hint
from greentic_runner.packs.providers import IdentifyHint


def test_valid_hint_lowercases_header_names() -> None:
    raw = orjson.dumps(
        {
            "version": 1,
            "sources": [
                {"header": {"name": "X-Telegram-Bot-Api-Secret-Token"}},
                {"body_path": {"json_pointer": "/recipient/id"}},
            ],
        }
    )
    hint = parse_hint(raw, "t")
    assert hint is not None
    assert hint.headers == ("x-telegram-bot-api-secret-token",)
    assert hint.raw["sources"][0] == {"header": {"name": "x-telegram-bot-api-secret-token"}}


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 2, "sources": []},
        {"version": True, "sources": []},
        {"sources": []},
        {"version": 1, "sources": [{"cookie": {"name": "x"}}]},
        {"version": 1, "sources": [{"header": {"name": ""}}]},
        {"version": 1, "sources": [{"header": {"name": "x", "extra": 1}}]},
        {"version": 1, "sources": [{"body_path": {"json_pointer": "no-slash"}}]},
        {"version": 1, "sources": "header"},
        {"version": 1, "sources": [], "extra": True},
        [1],
    ],
    ids=[
        "wrong-version",
        "bool-version",
        "no-version",
        "unknown-source",
        "blank-header",
        "unknown-header-field",
        "bad-pointer",
        "sources-not-list",
        "unknown-field",
        "not-object",
    ],
)
def test_invalid_hints_are_none(doc: object) -> None:
    assert parse_hint(orjson.dumps(doc), "t") is None


def test_malformed_json_is_none(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_hint(b"{nope", "pack/comp") is None
    assert "identify hint of pack/comp is not JSON" in caplog.text


@given(st.binary(max_size=80))
def test_parse_hint_never_raises(data: bytes) -> None:
    result = parse_hint(data, "fuzz")
    assert result is None or isinstance(result, IdentifyHint)

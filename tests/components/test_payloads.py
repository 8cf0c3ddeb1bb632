"""Payload codecs: JSON <-> CBOR and the output fallbacks of spec §2.3 / §3."""

from __future__ import annotations

import contextlib
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.components.payloads import (
    PayloadError,
    cbor_to_json,
    envelope_payload,
    json_from_bytes,
    json_to_cbor,
    output_from_cbor,
    output_from_json_text,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_json_survives_a_cbor_round_trip(value: Any) -> None:
    assert cbor_to_json(json_to_cbor(value)) == value


@given(st.binary(max_size=64))
def test_cbor_decoding_never_crashes_on_bytes(data: bytes) -> None:
    with contextlib.suppress(PayloadError):
        output_from_cbor(data)


def test_cbor_is_canonical() -> None:
    assert json_to_cbor({"b": 1, "a": 2}) == json_to_cbor({"a": 2, "b": 1})


def test_cbor_specials_become_json() -> None:
    data = cbor2.dumps(
        {
            1: b"\x01\x02",
            "t": cbor2.CBORTag(4000, 5),
            "when": cbor2.CBORTag(1, 0),
            "nan": float("nan"),
        }
    )
    assert cbor_to_json(data) == {
        "1": [1, 2],
        "t": 5,
        "when": "1970-01-01 00:00:00+00:00",  # decoded rich types keep their text
        "nan": None,
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", None), (cbor2.dumps("x"), "x"), (b"hello", "hello")],
    ids=["empty", "cbor", "utf8-fallback"],
)
def test_output_from_cbor(data: bytes, expected: Any) -> None:
    assert output_from_cbor(data) == expected


def test_trailing_bytes_are_not_cbor() -> None:
    with pytest.raises(PayloadError, match="trailing"):
        cbor_to_json(cbor2.dumps(1) + b"\x01")
    with pytest.raises(PayloadError, match="neither CBOR nor UTF-8"):
        output_from_cbor(b"\xff\xfe\x00")


@pytest.mark.parametrize(("text", "expected"), [("", None), ("[1]", [1]), ("not json", "not json")])
def test_output_from_json_text(text: str, expected: Any) -> None:
    assert output_from_json_text(text) == expected


def test_provider_bytes_must_be_json() -> None:
    assert json_from_bytes(b'{"a":1}', "x") == {"a": 1}
    with pytest.raises(PayloadError, match="x is not JSON"):
        json_from_bytes(b"nope", "x")


def test_envelope_payload() -> None:
    envelope = {"ctx": {}, "flow_id": "f", "op": "o"}
    assert envelope_payload({**envelope, "payload": list(b'{"a":1}')}) == {"a": 1}
    assert envelope_payload({**envelope, "payload": [0xFF]}) == b"\xff"
    assert envelope_payload({**envelope, "payload": {"x": 1}}) == {"x": 1}
    assert envelope_payload({"payload": [1]}) == {"payload": [1]}

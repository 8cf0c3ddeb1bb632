"""Reflection-driven value building, and the rich compile progress display."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from wasmtime import component as cm

from greentic_runner.components.cache import RichCompileProgress
from greentic_runner.components.engine import EngineSettings, shared_engine
from greentic_runner.components.wit_values import U64_MAX, ShapeError, fill_record, to_plain


@pytest.fixture(scope="module")
def envelope_ty(built: dict[str, Path]) -> cm.RecordType:
    engine = shared_engine(EngineSettings())
    component = cm.Component(engine, built["echo06"].read_bytes())
    node = component.type.exports(engine)["greentic:component/node@0.6.0"].ty
    invoke = node.exports(engine)["invoke"].ty
    ty = invoke.params[1][1]
    assert isinstance(ty, cm.RecordType)
    return ty


def test_fill_record_by_field_name(envelope_ty: cm.RecordType) -> None:
    value = fill_record(
        envelope_ty,
        {
            "ctx": {
                "tenant-id": "t",
                "env-id": "e",
                "trace-id": None,
                "correlation-id": None,
                "deadline-ms": None,
                "attempt": 3,
                "i18n-id": None,
                "extra": "ignored",
            },
            "flow-id": "f",
            "step-id": "s",
            "component-id": "c",
            "attempt": 3,
            "payload-cbor": [1, 2],
        },
        "envelope",
    )
    plain = to_plain(value)
    assert plain["payload-cbor"] == b"\x01\x02"
    assert plain["metadata-cbor"] is None  # optional fields may be omitted
    assert plain["ctx"]["deadline-ms"] == U64_MAX  # None deadline is u64::MAX
    assert plain["ctx"]["trace-id"] == ""  # a required string given as None is empty
    assert plain["ctx"]["team-id"] is None


def test_unknown_required_field_is_a_shape_error(envelope_ty: cm.RecordType) -> None:
    with pytest.raises(ShapeError, match="envelope.ctx: unknown field `tenant-id`"):
        fill_record(envelope_ty, {"ctx": {}}, "envelope")
    with pytest.raises(ShapeError, match="cannot build a record"):
        fill_record(envelope_ty, {"ctx": "not a record"}, "envelope")


def test_rich_progress_reports_the_compile() -> None:
    out = io.StringIO()
    progress = RichCompileProgress(Console(file=out, force_terminal=False))
    progress.started("demo/big", 18 * 1_048_576)
    progress.finished("demo/big", 4.7)
    assert "compiled component demo/big in 4.7s" in out.getvalue()

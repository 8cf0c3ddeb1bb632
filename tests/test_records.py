"""@record: immutable by contract (checked by mypy), cheap to build, hashable by value."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mypy import api as mypy_api

from greentic_runner.activity import Activity
from greentic_runner.envelope import IngressEnvelope
from greentic_runner.flows.context import FlowContext
from greentic_runner.records import record
from greentic_runner.tenancy import ReplyScope, TenantCtx


@record
class Point:
    name: str
    count: int = 0
    tags: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list, compare=False, hash=False)


def test_defaults_and_a_factory_per_instance() -> None:
    first, second = Point("a"), Point("b", 2, ("x",))
    first.notes.append("n")
    assert (first.name, first.count, first.tags) == ("a", 0, ())
    assert (second.count, second.tags, second.notes) == (2, ("x",), [])


def test_equal_records_hash_alike_and_key_dicts() -> None:
    assert Point("a", 1) == Point("a", 1, notes=["ignored"])
    assert hash(Point("a", 1)) == hash(Point("a", 1))
    assert {Point("a", 1): "found"}[Point("a", 1)] == "found"
    assert Point("a", 1) != Point("a", 2)


def test_slotted_no_stray_attributes() -> None:
    point = Point("a")
    assert not hasattr(point, "__dict__")
    with pytest.raises(AttributeError):
        point.colour = "red"  # type: ignore[attr-defined]


def test_replace_copy_and_pickle_round_trip() -> None:
    point = Point("a", 1, ("t",))
    assert dataclasses.replace(point, count=2) == Point("a", 2, ("t",))
    assert copy.copy(point) == point
    assert pickle.loads(pickle.dumps(point)) == point


def test_bad_calls_fail_like_any_python_call() -> None:
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point("a", unknown=1)  # type: ignore[call-arg]


def test_mypy_rejects_assigning_a_field(tmp_path: Path) -> None:
    """The immutability contract is enforced where it costs nothing: by the type checker."""
    snippet = tmp_path / "mutate.py"
    snippet.write_text(
        "from greentic_runner.records import record\n\n"
        "@record\n"
        "class Pair:\n"
        "    left: int\n"
        "    right: int = 0\n\n"
        "pair = Pair(1)\n"
        "pair.left = 2\n"
    )
    out, _, status = mypy_api.run(
        [str(snippet), "--strict", "--cache-dir", str(tmp_path / "cache"), "--no-incremental"]
    )
    assert status == 1, out
    assert 'Property "left" defined in "Pair" is read-only' in out


texts = st.none() | st.text(max_size=8)


@given(tenant=st.text(min_size=1, max_size=8), user=texts, session=texts, flow=texts)
def test_hot_path_records_replace_and_read_back(
    tenant: str, user: str | None, session: str | None, flow: str | None
) -> None:
    ctx = TenantCtx("local", tenant, user=user, session=session, flow=flow)
    assert dataclasses.replace(ctx) == ctx
    assert (ctx.env, ctx.tenant, ctx.user, ctx.session, ctx.flow) == (
        "local",
        tenant,
        user,
        session,
        flow,
    )
    activity = Activity(tenant=tenant, user_id=user, payload={"text": flow})
    assert dataclasses.replace(activity, user_id=session).user_id == session
    scope = ReplyScope(tenant, thread=user)
    assert ReplyScope.from_dict(scope.to_dict()) == scope


def test_every_field_of_the_hot_path_records_is_set() -> None:
    for instance in (IngressEnvelope("t", "f"), FlowContext("t", "p", "f"), Activity()):
        for item in dataclasses.fields(instance):
            getattr(instance, item.name)  # an unset slot raises AttributeError

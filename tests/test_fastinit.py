"""fast_frozen_init: same constructor behaviour as the dataclass's own __init__, faster."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.activity import Activity
from greentic_runner.envelope import IngressEnvelope
from greentic_runner.fastinit import fast_frozen_init
from greentic_runner.flows.context import FlowContext
from greentic_runner.tenancy import ReplyScope, TenantCtx


@dataclass(frozen=True, slots=True)
class Reference:
    name: str
    count: int = 0
    tags: list[str] = field(default_factory=list)


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Fast:
    name: str
    count: int = 0
    tags: list[str] = field(default_factory=list)


def test_same_values_and_defaults_as_the_dataclass_init() -> None:
    assert dataclasses.astuple(Fast("a")) == dataclasses.astuple(Reference("a"))
    assert dataclasses.astuple(Fast("a", 2, ["x"])) == ("a", 2, ["x"])
    assert Fast(name="a", tags=["t"]) == Fast("a", 0, ["t"])


def test_a_default_factory_runs_per_instance() -> None:
    first, second = Fast("a"), Fast("b")
    first.tags.append("x")
    assert second.tags == []


def test_instances_stay_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Fast("a").name = "b"  # type: ignore[misc]


def test_bad_calls_fail_like_any_python_call() -> None:
    with pytest.raises(TypeError):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast("a", unknown=1)  # type: ignore[call-arg]


def test_signature_matches_the_dataclass() -> None:
    fast = inspect.signature(Fast.__init__).parameters
    reference = inspect.signature(Reference.__init__).parameters
    assert list(fast) == list(reference)


def test_refuses_classes_it_cannot_reproduce() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class KwOnly:
        a: int = field(kw_only=True)

    for cls in (NoSlots, PostInit, KwOnly):
        with pytest.raises(TypeError):
            fast_frozen_init(cls)


texts = st.none() | st.text(max_size=8)


@given(tenant=st.text(min_size=1, max_size=8), user=texts, session=texts, flow=texts)
def test_hot_path_classes_equal_their_dataclasses_replace(
    tenant: str, user: str | None, session: str | None, flow: str | None
) -> None:
    """``replace`` goes through the (fast) __init__; fields() read every slot back."""
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


def test_every_field_of_the_decorated_classes_is_set() -> None:
    values: dict[type[Any], Any] = {
        IngressEnvelope: IngressEnvelope("t", "f"),
        FlowContext: FlowContext("t", "p", "f"),
        Activity: Activity(),
    }
    for cls, instance in values.items():
        for item in dataclasses.fields(cls):
            getattr(instance, item.name)  # an unset slot raises AttributeError

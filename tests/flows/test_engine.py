"""The walk: finalize, waits and resume, sub-flows, jumps, retries, limits (spec §5, §12.6)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.flows.flowkit import PACK, Components, Sleeps, ctx, flow, node

from greentic_runner.config import RetryConfig
from greentic_runner.errors import ComponentError, FlowError
from greentic_runner.flows.engine import FlowEngine, backoff_delay_ms, finalize
from greentic_runner.flows.model import Branch, Custom, Flow, Node, Route
from greentic_runner.flows.snapshot import (
    Completed,
    ExecutionState,
    FlowSnapshot,
    Waiting,
)
from greentic_runner.flows.ygtc import load_ygtc

Build = Callable[..., FlowEngine]


def emit(node_id: str, text: str, to: Any = None) -> Node:
    return node(node_id, "emit.response", {"text": text}, to)


def say(node_id: str, text: str, to: Any = None) -> Node:
    return node(node_id, "templating.handlebars", {"text": text}, to)


def wait(node_id: str, to: Any = None, reason: Any = "ask") -> Node:
    return node(node_id, "session.wait", reason, to)


# -- finalize -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("egress", "final", "expected"),
    [
        ([], {"a": 1}, {"a": 1}),
        ([], None, None),
        ([{"e": 1}], None, [{"e": 1}]),
        ([{"e": 1}], {"f": 2}, [{"e": 1}, {"f": 2}]),
        ([{"e": 1}], [{"f": 2}, {"g": 3}], [{"e": 1}, {"f": 2}, {"g": 3}]),
        ([{"e": 1}], "x", [{"e": 1}, "x"]),
    ],
    ids=["no-egress", "nothing", "null-final", "append", "flatten-array", "scalar"],
)
def test_finalize(egress: list[Any], final: Any, expected: Any) -> None:
    state = ExecutionState.new(None)
    state.egress.extend(egress)
    assert finalize(state, final) == expected


async def test_a_template_node_replies_with_its_text(build: Build) -> None:
    engine = build(flow("main", say("start", "Hello {{in.name}}!")))
    result = await engine.execute(ctx(), {"name": "Ada"})
    assert result == Completed({"text": "Hello Ada!"})


async def test_a_node_is_compiled_once_for_every_engine_that_runs_it(build: Build) -> None:
    """Tenants loading the same pack content share its nodes (packs/shared.py): the
    compiled form lives on the node, so a second engine compiles nothing."""
    shared_flow = flow("main", say("start", "Hello {{in.name}}!"))
    first, second = build(shared_flow), build(shared_flow)
    assert await first.execute(ctx(), {"name": "Ada"}) == Completed({"text": "Hello Ada!"})
    start = shared_flow.nodes["start"]
    compiled = start.compiled
    assert compiled is not None
    assert await second.execute(ctx(), {"name": "Bo"}) == Completed({"text": "Hello Bo!"})
    assert start.compiled is compiled
    assert start == dataclasses.replace(start)  # a cache, not part of the value


async def test_a_changed_copy_of_a_node_is_compiled_afresh(build: Build) -> None:
    original = say("start", "Hello {{in.name}}!")
    await build(flow("main", original)).execute(ctx(), {"name": "Ada"})
    changed = dataclasses.replace(original, mapping={"text": "Bye {{in.name}}"})
    assert changed.compiled is None
    result = await build(flow("main", changed)).execute(ctx(), {"name": "Ada"})
    assert result == Completed({"text": "Bye Ada"})


async def test_an_emit_then_the_last_payload_appear_both(build: Build) -> None:
    engine = build(flow("main", emit("hi", "first", "bye"), emit("bye", "second")))
    result = await engine.execute(ctx(), {})
    # The reference's finalize: every emit, then the final payload (the last emit again).
    assert result == Completed([{"text": "first"}, {"text": "second"}, {"text": "second"}])


# -- wait and resume ----------------------------------------------------------------------


async def test_wait_parks_with_the_emitted_output_and_a_clean_snapshot(build: Build) -> None:
    engine = build(
        flow(
            "main",
            emit("hello", "Name?", "ask"),
            wait("ask", "greet"),
            say("greet", "Hi {{input.text}}"),
        )
    )
    result = await engine.execute(ctx(), {"text": "start"})
    assert isinstance(result, Waiting)
    assert result.output == [{"text": "Name?"}]
    assert result.wait.reason == "ask"
    snapshot = result.wait.snapshot
    assert (snapshot.pack_id, snapshot.flow_id, snapshot.next_node) == (PACK, "main", "greet")
    assert snapshot.next_flow is None and snapshot.awaiting_submit is False
    assert snapshot.state.egress == []
    assert snapshot.state.entry == {"text": "start"}


async def test_resume_continues_at_next_node_with_new_input_and_same_entry(build: Build) -> None:
    engine = build(
        flow("main", wait("ask", "greet"), say("greet", "{{input.text}} (first: {{entry.text}})"))
    )
    first = await engine.execute(ctx(), {"text": "hello"})
    assert isinstance(first, Waiting)
    stored = FlowSnapshot.from_dict(first.wait.snapshot.to_dict())  # as a store keeps it
    second = await engine.resume(ctx(), stored, {"text": "Ada"})
    assert second == Completed({"text": "Ada (first: hello)"})


async def test_resume_sets_entry_when_the_snapshot_had_none(build: Build) -> None:
    engine = build(flow("main", say("greet", "{{entry.text}}")))
    snapshot = FlowSnapshot(PACK, "main", "greet", ExecutionState())
    assert await engine.resume(ctx(), snapshot, {"text": "new"}) == Completed({"text": "new"})


async def test_resume_does_not_change_the_callers_snapshot(build: Build) -> None:
    engine = build(flow("main", say("greet", "{{input.text}}")))
    snapshot = FlowSnapshot(PACK, "main", "greet", ExecutionState.new({"text": "old"}))
    await engine.resume(ctx(), snapshot, {"text": "new"})
    assert snapshot.state.input == {"text": "old"} and snapshot.state.nodes == {}


@pytest.mark.parametrize(
    "routing",
    [None, Branch({}, None), Custom((Route(out=True),))],
    ids=["end", "branch-without-default", "custom-out"],
)
async def test_wait_without_a_route_fails(build: Build, routing: Any) -> None:
    engine = build(flow("main", wait("ask", routing)))
    with pytest.raises(FlowError, match="session.wait node ask requires a non-empty route"):
        await engine.execute(ctx(), {})


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        (
            FlowSnapshot("other.pack", "main", "a", ExecutionState()),
            f"snapshot pack other.pack does not match requested {PACK}",
        ),
        (FlowSnapshot(PACK, "nope", "a", ExecutionState()), f"flow {PACK}:nope not registered"),
        (FlowSnapshot(PACK, "main", "bad id", ExecutionState()), "invalid resume node id `bad id`"),
        (FlowSnapshot(PACK, "main", "ghost", ExecutionState()), "node ghost not found"),
    ],
    ids=["pack-mismatch", "unknown-flow", "invalid-node-id", "missing-node"],
)
async def test_resume_rules(build: Build, snapshot: FlowSnapshot, message: str) -> None:
    engine = build(flow("main", say("a", "x")))
    with pytest.raises(FlowError, match=message):
        await engine.resume(ctx(), snapshot, {})


async def test_execute_an_unknown_flow(build: Build) -> None:
    with pytest.raises(FlowError, match=f"flow {PACK}:ghost not registered"):
        await build(flow("main", say("a", "x"))).execute(ctx("ghost"), {})


async def test_a_flow_without_nodes_has_no_start_node(build: Build) -> None:
    with pytest.raises(FlowError, match="flow empty has no start node"):
        await build(flow("empty")).execute(ctx("empty"), {})


async def test_a_route_to_a_missing_node(build: Build) -> None:
    engine = build(flow("main", say("a", "x", "ghost")))
    with pytest.raises(FlowError, match=f"flow {PACK}:main: node ghost not found"):
        await engine.execute(ctx(), {})


# -- routing ------------------------------------------------------------------------------


async def test_branch_on_status(build: Build, components: Components) -> None:
    components.on("checker", "check", lambda call: {"status": call.input["status"]})
    routing = Branch({"ok": "good", "bad": "sad"}, default="other")
    engine = build(
        flow(
            "main",
            node("check", "checker", {"status": "{{in.s}}"}, routing, operation="check"),
            say("good", "good"),
            say("sad", "sad"),
            say("other", "other"),
        )
    )
    for status, expected in [("ok", "good"), ("bad", "sad"), ("weird", "other")]:
        assert await engine.execute(ctx(), {"s": status}) == Completed({"text": expected})


async def test_custom_routes_first_match_wins(build: Build) -> None:
    routes = Custom(
        (
            Route(to="adult", condition="in.age >= 18"),
            Route(to="teen", condition="in.age >= 13"),
            Route(to="child"),
        )
    )
    engine = build(
        flow(
            "main",
            say("start", "x", routes),
            say("adult", "adult"),
            say("teen", "teen"),
            say("child", "child"),
        )
    )
    for age, expected in [(30, "adult"), (15, "teen"), (3, "child")]:
        assert await engine.execute(ctx(), {"age": age}) == Completed({"text": expected})


async def test_custom_routes_see_the_output_fields_and_node_outputs(build: Build) -> None:
    routes = Custom(
        (
            Route(to="yes", condition='output.text == "go" and start.payload.text == "go"'),
            Route(to="no", condition='text != "go"'),
        )
    )
    engine = build(flow("main", say("start", "{{in.t}}", routes), say("yes", "Y"), say("no", "N")))
    assert await engine.execute(ctx(), {"t": "go"}) == Completed({"text": "Y"})
    assert await engine.execute(ctx(), {"t": "stop"}) == Completed({"text": "N"})


@pytest.mark.parametrize(
    "route",
    [Route(out=True), Route(reply=True), Route(to="out"), Route(status="x")],
    ids=["out", "reply", "to-out", "no-target"],
)
async def test_custom_exit_routes(build: Build, route: Route) -> None:
    engine = build(
        flow("main", node("start", "flow.return", {"value": {"status": "x"}}, Custom((route,))))
    )
    assert await engine.execute(ctx(), {}) == Completed({"status": "x"})


async def test_custom_routes_matching_on_status(build: Build) -> None:
    routes = Custom((Route(status="a", to="na"), Route(status="b", to="nb")))
    engine = build(
        flow(
            "main",
            node("start", "emit.log", {"status": "{{in.s}}"}, routes),
            say("na", "A"),
            say("nb", "B"),
        )
    )
    assert await engine.execute(ctx(), {"s": "b"}) == Completed([{"status": "b"}, {"text": "B"}])


async def test_custom_fall_through_parks_at_the_same_node(build: Build) -> None:
    routes = Custom((Route(to="done", condition='input.action == "submit"'),))
    engine = build(flow("main", say("card", "Press submit", routes), say("done", "thanks")))
    first = await engine.execute(ctx(), {"action": "look"})
    assert isinstance(first, Waiting)
    assert first.output == {"text": "Press submit"}
    assert first.wait.reason == "awaiting user submit at node `card`"
    assert first.wait.snapshot.next_node == "card"
    assert first.wait.snapshot.awaiting_submit is True
    second = await engine.resume(ctx(), first.wait.snapshot, {"action": "submit"})
    assert second == Completed({"text": "thanks"})


def test_an_invalid_condition_fails_when_the_engine_is_built(build: Build) -> None:
    bad = flow(
        "main",
        say("start", "x", Custom((Route(to="a", condition="in.x ==="),))),
        source="flows/main.ygtc",
    )
    with pytest.raises(FlowError, match=r"flow demo.pack:main \(flows/main.ygtc\), node start"):
        build(bad)


# -- flow.call ----------------------------------------------------------------------------


async def test_flow_call_returns_the_sub_flow_output(build: Build) -> None:
    sub = flow("greet", emit("noise", "sub-egress", "reply"), say("reply", "Hi {{in.name}}"))
    main = flow(
        "main",
        node("call", "flow.call", {"flow_id": "greet", "input": {"name": "{{in.n}}"}}, "after"),
        say("after", "{{call.payload.1.text}} / {{prev.1.text}}"),
    )
    result = await build(main, sub).execute(ctx(), {"n": "Ada"})
    # The sub-flow's egress stays in its own output; the parent emitted nothing.
    assert result == Completed({"text": "Hi Ada / Hi Ada"})


async def test_flow_call_that_waits_fails(build: Build) -> None:
    sub = flow("asks", wait("w", "x", reason="ask-name"), say("x", "x"))
    main = flow("main", node("call", "flow.call", {"flow": "asks"}))
    with pytest.raises(FlowError, match=r"flow.call cannot pause \(flow asks waiting 'ask-name'\)"):
        await build(main, sub).execute(ctx(), {})


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"flow_id": "ghost"}, f"flow.call failed for ghost: flow {PACK}:ghost not registered"),
        ({"flow_id": "  "}, "flow.call requires a non-empty flow_id"),
        ({"input": 1}, "flow.call requires a non-empty flow_id"),
        ({"flow_id": 7}, "invalid payload for flow.call node"),
        ("greet", "invalid payload for flow.call node"),
    ],
    ids=["unknown-flow", "blank", "missing", "not-a-string", "not-an-object"],
)
async def test_flow_call_errors(build: Build, mapping: Any, message: str) -> None:
    engine = build(flow("main", node("call", "flow.call", mapping)))
    with pytest.raises(FlowError, match=message) as info:
        await engine.execute(ctx(), {})
    assert f"flow {PACK}:main, node call" in str(info.value)


async def test_flow_call_recursion_is_bounded(build: Build) -> None:
    engine = build(flow("main", node("again", "flow.call", {"flow_id": "main"})))
    with pytest.raises(FlowError, match="flow.call nesting deeper than 16 levels"):
        await engine.execute(ctx(), {})


# -- jumps and respond --------------------------------------------------------------------


def control(**fields: Any) -> dict[str, Any]:
    return {"greentic_control": {"v": 1, **fields}}


async def test_a_component_jump_continues_in_the_target_flow(
    build: Build, components: Components
) -> None:
    components.on(
        "router",
        "route",
        control(
            action="jump",
            flow="other",
            node="second",
            payload={"text": "moved"},
            hints={"why": "test"},
        ),
    )
    main = flow("main", node("go", "router", {}, operation="route"))
    other = flow("other", say("first", "never"), say("second", "{{input.text}}/{{go.meta.why}}"))
    assert await build(main, other).execute(ctx(), {}) == Completed({"text": "moved/test"})


async def test_a_wait_after_a_jump_records_next_flow(build: Build, components: Components) -> None:
    components.on("router", "route", control(action="jump", flow="other"))
    main = flow("main", node("go", "router", {}, operation="route"))
    other = flow("other", wait("w", "end"), say("end", "resumed {{input.text}}"))
    engine = build(main, other)
    first = await engine.execute(ctx(), {})
    assert isinstance(first, Waiting)
    snapshot = first.wait.snapshot
    assert (snapshot.flow_id, snapshot.next_flow, snapshot.next_node) == ("main", "other", "end")
    # The host resumes with ctx.flow_id = next_flow (spec §4.7).
    second = await engine.resume(ctx("other"), snapshot, {"text": "yes"})
    assert second == Completed({"text": "resumed yes"})


async def test_jumps_stop_at_the_redirect_limit(build: Build, components: Components) -> None:
    components.on("router", "route", control(action="jump", flow="main"))
    engine = build(flow("main", node("go", "router", {}, operation="route")))
    with pytest.raises(FlowError, match="redirect_limit: 3 jumps already taken"):
        await engine.execute(ctx(), {})


async def test_max_redirects_comes_from_the_jump(build: Build, components: Components) -> None:
    components.on("router", "route", control(action="jump", flow="main", max_redirects=1))
    engine = build(flow("main", node("go", "router", {}, operation="route")))
    with pytest.raises(
        FlowError, match=r"redirect_limit: 1 jumps already taken \(max_redirects 1\)"
    ):
        await engine.execute(ctx(), {})


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ({"greentic_control": "bad"}, "jump_failed: greentic_control must be an object"),
        ({"greentic_control": {"v": 1}}, "jump_failed: greentic_control.action is required"),
        ({"greentic_control": {"action": "jump"}}, "jump_failed: greentic_control.v is required"),
        ({"greentic_control": {"action": "jump", "v": 2}}, "unsupported greentic_control.v=2"),
        (control(action="jump", flow=" "), "jump_failed: jump flow is required"),
        (
            control(action="jump", flow="ghost"),
            f"unknown_flow:ghost: flow {PACK}:ghost not registered",
        ),
        (control(action="jump", flow="main", node="ghost"), "unknown_node:ghost"),
        (control(action="jump", flow="empty"), "jump_failed: flow empty has no start node"),
    ],
    ids=[
        "not-object",
        "no-action",
        "no-v",
        "bad-v",
        "blank-flow",
        "unknown-flow",
        "unknown-node",
        "no-start",
    ],
)
async def test_control_errors(
    build: Build, components: Components, marker: Any, message: str
) -> None:
    components.on("router", "route", marker)
    engine = build(flow("main", node("go", "router", {}, operation="route")), flow("empty"))
    with pytest.raises(FlowError, match=message) as info:
        await engine.execute(ctx(), {})
    assert f"flow {PACK}:main, node go" in str(info.value)


async def test_unknown_control_actions_are_ignored(build: Build, components: Components) -> None:
    components.on("router", "route", control(action="later", x=1))
    engine = build(flow("main", node("go", "router", {}, operation="route")))
    assert await engine.execute(ctx(), {}) == Completed(control(action="later", x=1))


async def test_respond_finishes_the_turn_with_one_reply(
    build: Build, components: Components
) -> None:
    components.on(
        "bot", "answer", control(action="respond", text="done", card_cbor=[161, 1], needs_user=True)
    )
    engine = build(
        flow(
            "main",
            emit("before", "one", "go"),
            node("go", "bot", {}, "never", operation="answer"),
            say("never", "x"),
        )
    )
    result = await engine.execute(ctx(), {})
    assert result == Completed(
        [{"text": "one"}, {"text": "done", "card_cbor": [161, 1], "needs_user": True}]
    )


# -- component failures and retries -------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            {"ok": False, "error": {"code": "E42", "message": "boom"}},
            "component svc failed: E42: boom",
        ),
        ({"ok": False}, "component svc failed: component_error: component reported error"),
    ],
    ids=["with-error", "defaults"],
)
async def test_a_component_reporting_ok_false_fails_the_node(
    build: Build, components: Components, result: Any, message: str
) -> None:
    components.on("svc", "run", result)
    engine = build(flow("main", node("call", "svc", {}, operation="run")))
    with pytest.raises(ComponentError, match=f"flow {PACK}:main, node call: {message}"):
        await engine.execute(ctx(), {})


def flaky(components: Components, errors: list[str]) -> list[int]:
    """A component that fails with each of ``errors`` in turn, then succeeds."""
    runs: list[int] = []

    def handler(call: Any) -> Any:
        runs.append(call.ctx.attempt)
        if len(runs) <= len(errors):
            raise ComponentError(errors[len(runs) - 1])
        return {"text": "ok"}

    components.on("svc", "run", handler)
    return runs


async def test_transient_errors_are_retried_with_backoff(
    build: Build, components: Components, sleeps: Sleeps
) -> None:
    runs = flaky(components, ["Service Unavailable", "TRANSIENT glitch", "internal error"])
    engine = build(
        flow("main", emit("side", "effect", "call"), node("call", "svc", {}, operation="run")),
        retry=RetryConfig(max_attempts=4, base_delay_ms=100),
    )
    result = await engine.execute(ctx(), {})
    # Each attempt starts from a fresh state: only the last attempt's emit is in the output.
    assert result == Completed([{"text": "effect"}, {"text": "ok"}])
    assert runs == [1, 2, 3, 4]
    assert sleeps.delays == [0.1, 0.2, 0.4]


async def test_other_errors_are_not_retried(
    build: Build, components: Components, sleeps: Sleeps
) -> None:
    runs = flaky(components, ["bad request"])
    engine = build(
        flow("main", node("call", "svc", {}, operation="run")), retry=RetryConfig(max_attempts=5)
    )
    with pytest.raises(ComponentError, match="bad request"):
        await engine.execute(ctx(), {})
    assert runs == [1] and sleeps.delays == []


async def test_retries_stop_after_max_attempts(
    build: Build, components: Components, sleeps: Sleeps
) -> None:
    runs = flaky(components, ["unavailable"] * 5)
    engine = build(
        flow("main", node("call", "svc", {}, operation="run")),
        retry=RetryConfig(max_attempts=2, base_delay_ms=50),
    )
    with pytest.raises(ComponentError, match="unavailable"):
        await engine.execute(ctx(), {})
    assert runs == [1, 2] and sleeps.delays == [0.05]


async def test_resume_does_not_retry(build: Build, components: Components) -> None:
    runs = flaky(components, ["unavailable"])
    engine = build(
        flow("main", node("call", "svc", {}, operation="run")), retry=RetryConfig(max_attempts=3)
    )
    with pytest.raises(ComponentError):
        await engine.resume(ctx(), FlowSnapshot(PACK, "main", "call", ExecutionState()), {})
    assert runs == [1]


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay_ms(250, n) for n in range(4)] == [250, 500, 1000, 2000]
    assert backoff_delay_ms(250, 20) == 30_000


# -- bounds and bad input -----------------------------------------------------------------


async def test_a_loop_without_exit_is_stopped(build: Build) -> None:
    engine = build(flow("main", say("a", "x", "b"), say("b", "y", "a")), max_steps=50)
    with pytest.raises(FlowError) as info:
        await engine.execute(ctx(), {})
    message = str(info.value)
    assert f"flow {PACK}:main ran 50 steps in one turn" in message
    assert "looks like a loop" in message


async def test_a_loop_with_a_wait_is_fine(build: Build) -> None:
    engine = build(flow("main", say("a", "x", "w"), wait("w", "a")), max_steps=3)
    first = await engine.execute(ctx(), {})
    assert isinstance(first, Waiting)
    second = await engine.resume(ctx(), first.wait.snapshot, {})
    assert isinstance(second, Waiting)  # each turn has its own budget


async def test_a_template_syntax_error_names_flow_and_node(build: Build) -> None:
    engine = build(flow("main", say("broken", "{{#if in.x}}never closed")))
    with pytest.raises(FlowError) as info:
        await engine.execute(ctx(), {})
    assert str(info.value).startswith(
        f"flow {PACK}:main, node broken: failed to render node input template:"
    )


@pytest.mark.parametrize("component", ["flow.teleport", "session.nap", "state.delete", "mcp"])
async def test_unknown_operations_in_engine_namespaces_fail(build: Build, component: str) -> None:
    engine = build(flow("main", node("odd", component, {})))
    with pytest.raises(FlowError, match=f"node odd: unsupported node component: {component}"):
        await engine.execute(ctx(), {})


async def test_unknown_component_errors_name_the_node(build: Build) -> None:
    engine = build(flow("main", node("odd", "acme.widget.spin", {})))
    with pytest.raises(
        ComponentError, match="node odd: component acme.widget has no operation spin"
    ):
        await engine.execute(ctx(), {})


def test_max_steps_must_be_positive(build: Build) -> None:
    with pytest.raises(FlowError, match="max_steps must be at least 1"):
        build(flow("main", say("a", "x")), max_steps=0)


# -- observer -----------------------------------------------------------------------------


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, str, str, Any]] = []
        self.fail = fail

    def on_node_start(self, ctx: Any, flow: Flow, node: Node, payload: Any) -> None:
        self.events.append(("start", flow.id, node.id, payload))
        if self.fail:
            raise RuntimeError("observer bug")

    def on_node_end(self, ctx: Any, flow: Flow, node: Node, output: Any) -> None:
        self.events.append(("end", flow.id, node.id, output))

    def on_node_error(self, ctx: Any, flow: Flow, node: Node, error: BaseException) -> None:
        self.events.append(("error", flow.id, node.id, str(error)))


async def test_observer_sees_every_node(build: Build, components: Components) -> None:
    recorder = Recorder()
    components.on("svc", "run", {"ok": False, "error": {"code": "E", "message": "m"}})
    engine = build(
        flow("main", say("a", "hi {{in.x}}", "b"), node("b", "svc", {}, operation="run")),
        observer=recorder,
    )
    with pytest.raises(ComponentError):
        await engine.execute(ctx(), {"x": 1})
    assert recorder.events == [
        ("start", "main", "a", {"text": "hi 1"}),
        ("end", "main", "a", {"text": "hi 1"}),
        ("start", "main", "b", {}),
        ("error", "main", "b", "component svc failed: E: m"),
    ]


async def test_a_failing_observer_does_not_change_the_result(build: Build) -> None:
    recorder = Recorder(fail=True)
    engine = build(flow("main", say("a", "ok")), observer=recorder)
    assert await engine.execute(ctx(), {}) == Completed({"text": "ok"})
    assert [event[0] for event in recorder.events] == ["start", "end"]


class Switchable(Recorder):
    """An observer with ``active()``: the engine asks it once per node."""

    def __init__(self) -> None:
        super().__init__()
        self.on = False

    def active(self) -> bool:
        return self.on


async def test_an_inactive_observer_gets_no_hooks_for_that_node(build: Build) -> None:
    observer = Switchable()
    engine = build(flow("main", say("a", "ok")), observer=observer)
    await engine.execute(ctx(), {})
    assert observer.events == []
    observer.on = True
    await engine.execute(ctx(), {})
    assert [event[0] for event in observer.events] == ["start", "end"]


# -- upstream flows, compiled by the YGTC compiler ----------------------------------------

UPSTREAM = Path(__file__).parents[1] / "fixtures" / "upstream"


def forecast(call: Any) -> Any:
    return {
        "location": {"name": call.input["q"], "country": "FR"},
        "current": {"condition": {"text": "Sunny"}, "temp_c": 21, "wind_kph": 5, "humidity": 40},
        "forecast": [
            {
                "date": "mon",
                "day": {"maxtemp_c": 22, "mintemp_c": 10, "condition": {"text": "Sun"}},
            },
            {
                "date": "tue",
                "day": {"maxtemp_c": 19, "mintemp_c": 9, "condition": {"text": "Rain"}},
            },
        ],
    }


async def test_upstream_weather_bot_converses(build: Build, components: Components) -> None:
    components.on("weather_api", "forecast_weather", forecast)
    weather = load_ygtc(UPSTREAM / "greentic-pack/examples/weather-demo/flows/weather_bot.ygtc")
    engine = build(weather)
    first = await engine.execute(ctx("weather_bot"), {"text": "hi"})
    assert isinstance(first, Waiting)
    assert first.output == [
        {"text": "Hi there! Let's get your weather forecast."},
        {"text": "👉 Which city do you want to check?"},
    ]
    retry = await engine.resume(
        ctx("weather_bot"), first.wait.snapshot, {"text": "the lovely city of Paris please"}
    )
    assert isinstance(retry, Waiting)
    assert retry.output[0] == {"text": "Please answer in at most 5 words."}
    done = await engine.resume(ctx("weather_bot"), retry.wait.snapshot, {"text": "Paris"})
    assert isinstance(done, Completed)
    # Legacy bare paths: `in.q_location` is the qa answer, `parameters.days_default` a number.
    assert components.calls[0].input == {"q": "Paris", "days": 3}
    text = done.output["text"]
    assert text.startswith("Here's the forecast for Paris, FR:\n\nNow: Sunny, 21°C\n")
    assert "Forecast (next 3 day(s)):\n- mon: ↑ 22°C | ↓ 10°C — Sun\n- tue: ↑ 19°C" in text


async def test_upstream_config_flow_collects_fields_and_renders_json(build: Build) -> None:
    config = load_ygtc(UPSTREAM / "greentic-flow/tests/data/config_flow.ygtc")
    engine = build(config)
    turn = await engine.execute(ctx(config.id), {})
    for answer in ["", "0.7"]:  # the first answer takes the field's default
        assert isinstance(turn, Waiting)
        turn = await engine.resume(ctx(config.id), turn.wait.snapshot, {"text": answer})
    assert isinstance(turn, Completed)
    node_json = json.loads(turn.output["text"])
    assert node_json["node"]["qa.process"] == {
        "welcome_template": "Hi there!",
        "temperature": "0.7",
    }

"""Built-in nodes: templating, emit, state, goto/return, qa, component/provider calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from tests.flows.flowkit import PACK, TENANT, Components, ctx, flow, node

from greentic_runner.errors import FlowError, ProviderError
from greentic_runner.flows.engine import FlowEngine
from greentic_runner.flows.model import Branch, Custom, Node, Route
from greentic_runner.flows.nodes import NodeKind, classify
from greentic_runner.flows.snapshot import Completed, FlowSnapshot, Waiting
from greentic_runner.packs.providers import PROVIDER_EXTENSION
from greentic_runner.storage.state import InMemoryStateStore
from greentic_runner.tenancy import TenantCtx
from greentic_runner.testing import make_pack

Build = Callable[..., FlowEngine]


async def run(engine: FlowEngine, input: Any = None, flow_id: str = "main") -> Any:
    result = await engine.execute(ctx(flow_id), input if input is not None else {})
    assert isinstance(result, Completed), result
    return result.output


# -- templating ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "mapping", "expected"),
    [
        ("templating.handlebars", {"text": "Hi {{in.name}}"}, {"text": "Hi Ada"}),
        ("templating.handlebars", {"template": "Hi {{in.name}}"}, {"text": "Hi Ada"}),
        ("template", "Hi {{in.name}}", {"text": "Hi Ada"}),
        ("template", "{{in.count}}", {"text": "3"}),  # typed injection, then text again
        ("templating.handlebars", {"text": "{{in.flags}}"}, {"text": "[true,false]"}),
        ("templating.handlebars", {"text": "{{in.missing}}"}, {"text": ""}),
    ],
    ids=["text", "template-key", "template-op", "number", "json", "missing"],
)
async def test_templating_outputs_text(
    build: Build, component: str, mapping: Any, expected: Any
) -> None:
    engine = build(flow("main", node("t", component, mapping)))
    assert await run(engine, {"name": "Ada", "count": 3, "flags": [True, False]}) == expected


async def test_templating_without_text_fails(build: Build) -> None:
    engine = build(flow("main", node("t", "templating.handlebars", {"body": "x"})))
    with pytest.raises(FlowError, match="node t: templating.handlebars node needs a `text`"):
        await run(engine)


async def test_v2_op_key_for_a_builtin_runs_the_builtin(build: Build) -> None:
    # hello.ygtc compiles `templating.handlebars:` to component.exec with that operation.
    engine = build(
        flow(
            "main",
            node(
                "start",
                "component.exec",
                {"text": "Hello!"},
                operation="templating.handlebars",
                component_ref="templating.handlebars",
            ),
        )
    )
    assert await run(engine) == {"text": "Hello!"}


# -- emit ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "mapping", "emitted"),
    [
        ("emit.response", {"text": "hi"}, {"text": "hi"}),
        ("emit.response", {"input": {"text": "inner"}, "x": 1}, {"text": "inner"}),
        ("emit.log", {"payload": "logged"}, "logged"),
        ("emit.custom", "raw", "raw"),
    ],
    ids=["whole-mapping", "input", "payload", "other-emit"],
)
async def test_emit_pushes_the_payload(
    build: Build, component: str, mapping: Any, emitted: Any
) -> None:
    engine = build(
        flow(
            "main",
            node("e", component, mapping, "end"),
            node("end", "flow.return", {"value": None}),
        )
    )
    assert await run(engine) == [emitted]


async def test_emit_via_component_exec_target(build: Build) -> None:
    mapping = {"component": "emit.response", "input": {"text": "via exec"}}
    engine = build(flow("main", node("e", "component.exec", mapping)))
    assert await run(engine) == [{"text": "via exec"}, {"text": "via exec"}]


async def test_messaging_emit_sends_each_message(build: Build) -> None:
    mapping = {"messages": ["one", {"type": "text", "text": "two {{in.n}}"}]}
    engine = build(
        flow(
            "main",
            node("e", "messaging.emit", mapping, "done"),
            node("done", "flow.return", {"value": None}),
        )
    )
    assert await run(engine, {"n": 2}) == [{"text": "one"}, {"type": "text", "text": "two 2"}]


async def test_messaging_emit_rejects_non_list_messages(build: Build) -> None:
    engine = build(flow("main", node("e", "messaging.emit", {"messages": "x"})))
    with pytest.raises(FlowError, match="messaging.emit `messages` must be a list"):
        await run(engine)


# -- session.wait -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [("ask-name", "ask-name"), ({"reason": "r"}, "r"), ({"reason": 5}, None), (None, None)],
    ids=["string", "object", "non-string", "none"],
)
async def test_session_wait_reason(build: Build, mapping: Any, reason: Any) -> None:
    engine = build(
        flow("main", node("w", "session.wait", mapping, "next"), node("next", "flow.return", {}))
    )
    result = await engine.execute(ctx(), {})
    assert isinstance(result, Waiting)
    assert result.wait.reason == reason and result.output is None


async def test_session_wait_follows_a_status_branch_default(build: Build) -> None:
    engine = build(
        flow(
            "main",
            node("w", "session.wait", "r", Branch({}, default="next")),
            node("next", "flow.return", {}),
        )
    )
    result = await engine.execute(ctx(), {})
    assert isinstance(result, Waiting) and result.wait.snapshot.next_node == "next"


# -- flow.return / flow.goto --------------------------------------------------------------


async def test_flow_return_ends_now_ignoring_routing(build: Build) -> None:
    engine = build(
        flow(
            "main",
            node("r", "flow.return", {"value": {"done": "{{in.x}}"}}, "never"),
            node("never", "templating.handlebars", {"text": "no"}),
        )
    )
    assert await run(engine, {"x": 7}) == {"done": 7}


async def test_flow_goto_jumps_with_input(build: Build) -> None:
    goto = {"flow": "other", "node": "b", "input": {"who": "{{in.name}}"}}
    engine = build(
        flow("main", node("go", "flow.goto", goto)),
        flow("other", node("a", "template", "A"), node("b", "template", "B {{input.who}}")),
    )
    assert await run(engine, {"name": "Ada"}) == {"text": "B Ada"}


async def test_flow_goto_carries_the_current_input(build: Build) -> None:
    engine = build(
        flow("main", node("go", "flow.goto", {"flow": "other"})),
        flow("other", node("a", "template", "got {{input.text}}")),
    )
    assert await run(engine, {"text": "hi"}) == {"text": "got hi"}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("other", "invalid payload for flow.goto node: expected an object"),
        ({"flow": 3}, "`flow` and `node` must be strings"),
        ({"flow": "other", "max_redirects": "2"}, "`max_redirects` must be an integer"),
        ({"flow": ""}, "missing_flow"),
    ],
    ids=["not-object", "flow-type", "redirects-type", "blank"],
)
async def test_flow_goto_errors(build: Build, mapping: Any, message: str) -> None:
    engine = build(flow("main", node("go", "flow.goto", mapping)))
    with pytest.raises(FlowError, match=message):
        await run(engine)


# -- state.get / state.set ----------------------------------------------------------------


async def test_state_set_then_get(build: Build, store: InMemoryStateStore) -> None:
    engine = build(
        flow(
            "main",
            node(
                "save",
                "state.set",
                {"key": "profile/{{in.user}}", "value": {"n": "{{in.n}}"}},
                "load",
            ),
            node("load", "state.get", {"key": "profile/{{in.user}}"}, "missing"),
            node("missing", "state.get", {"key": "nope", "fallback": "dflt"}, "out"),
            node(
                "out",
                "template",
                "{{load.payload.value.n}} {{load.payload.found}} "
                "{{missing.payload.value}} {{missing.payload.found}}",
            ),
        )
    )
    assert await run(engine, {"user": "u1", "n": 5}) == {"text": "5 true dflt false"}
    # The key is used verbatim under the "runner" prefix, scoped by (env, tenant) only.
    stored = await store.get_json(TenantCtx("local", TENANT), "runner", "profile/u1")
    assert stored == {"n": 5}


async def test_state_set_output_and_default_value(build: Build) -> None:
    engine = build(flow("main", node("save", "state.set", {"key": "k"})))
    assert await run(engine) == {"key": "k", "value": None}


@pytest.mark.parametrize(
    ("component", "mapping"),
    [
        ("state.get", {}),
        ("state.get", {"key": "  "}),
        ("state.set", {"key": 3}),
        ("state.get", "k"),
    ],
    ids=["missing", "blank", "not-string", "not-object"],
)
async def test_state_nodes_need_a_key(build: Build, component: str, mapping: Any) -> None:
    engine = build(flow("main", node("s", component, mapping)))
    with pytest.raises(
        FlowError,
        match="state node payload missing required `key` "
        r"\(non-empty string\)",
    ) as info:
        await run(engine)
    assert f"flow {PACK}:main, node s" in str(info.value)


async def test_state_nodes_need_a_store(build: Build) -> None:
    engine = build(flow("main", node("s", "state.get", {"key": "k"})), state_store=None)
    with pytest.raises(FlowError, match="state store is not configured for this runtime"):
        await run(engine)


async def test_state_node_rejects_an_invalid_tenant(build: Build) -> None:
    engine = build(flow("main", node("s", "state.get", {"key": "k"})))
    with pytest.raises(FlowError, match="invalid tenant id `bad tenant`"):
        await engine.execute(ctx(tenant="bad tenant"), {})


async def test_state_set_ttl_must_be_positive(build: Build) -> None:
    engine = build(flow("main", node("s", "state.set", {"key": "k", "ttl_secs": 0})))
    with pytest.raises(FlowError, match="`ttl_secs` must be a positive number"):
        await run(engine)


async def test_legacy_bare_paths_in_state_keys_only_for_schema_v1(build: Build) -> None:
    nodes = (node("save", "state.set", {"key": "in.slot", "value": 1}),)
    assert await run(build(flow("main", *nodes, schema_version=1)), {"slot": "s9"}) == {
        "key": "s9",
        "value": 1,
    }
    assert await run(build(flow("main", *nodes)), {"slot": "s9"}) == {"key": "in.slot", "value": 1}


# -- component.exec and pack components ---------------------------------------------------


async def test_component_exec_without_input_passes_the_other_fields(
    build: Build, components: Components
) -> None:
    components.on("greeter", "greet", lambda call: {"text": f"hello {call.input['name']}"})
    mapping = {
        "component": "greeter",
        "operation": "greet",
        "name": "{{in.text}}",
        "config": {"formal": True},
    }
    engine = build(flow("main", node("g", "component.exec", mapping)))
    assert await run(engine, {"text": "Ada"}) == {"text": "hello Ada"}
    call = components.calls[0]
    assert (call.component_ref, call.operation, call.input) == ("greeter", "greet", {"name": "Ada"})
    assert call.config == {"formal": True}


async def test_component_exec_with_input_uses_it_as_given(
    build: Build, components: Components
) -> None:
    components.on("c", "op", {"done": True})
    mapping = {"component_ref": "c", "op": "op", "input": {"q": "{{in.q}}"}, "extra": 1}
    engine = build(flow("main", node("g", "component.exec", mapping)))
    assert await run(engine, {"q": 42}) == {"done": True}
    assert components.calls[0].input == {"q": 42} and components.calls[0].config is None


async def test_component_exec_ctx(build: Build, components: Components) -> None:
    components.on("c", "op", {})
    engine = build(flow("main", node("g", "component.exec", {"component": "c", "operation": "op"})))
    await engine.execute(ctx(session_id="sess-1", provider_id="webchat", env="dev"), {})
    exec_ctx = components.calls[0].ctx
    assert (exec_ctx.tenant, exec_ctx.env, exec_ctx.flow_id, exec_ctx.node_id) == (
        TENANT,
        "dev",
        "main",
        "g",
    )
    assert exec_ctx.correlation_id == exec_ctx.idempotency_key == exec_ctx.session_id == "sess-1"
    assert exec_ctx.user == exec_ctx.provider_id == "webchat"  # the reference's quirk
    assert exec_ctx.attempt == 1


async def test_v2_bare_op_with_sidecar_component(build: Build, components: Components) -> None:
    components.on("ai.greentic.hello", "handle_message", lambda call: {"echo": call.input})
    engine = build(
        flow(
            "main",
            node(
                "hello-world",
                "component.exec",
                {"input": {"input": "Hi"}},
                operation="handle_message",
                component_ref="ai.greentic.hello",
            ),
        )
    )
    assert await run(engine) == {"echo": {"input": "Hi"}}


@pytest.mark.parametrize(
    ("target", "operation", "message"),
    [
        (None, "handle_message", "component.exec requires a component_ref"),
        (
            "c",
            None,
            "missing operation for node `g` \\(component `component.exec`\\); "
            "expected node.component.operation to be set",
        ),
    ],
    ids=["no-component", "no-operation"],
)
async def test_component_exec_errors(
    build: Build, target: Any, operation: Any, message: str
) -> None:
    engine = build(
        flow("main", node("g", "component.exec", {}, operation=operation, component_ref=target))
    )
    with pytest.raises(FlowError, match=message):
        await run(engine)


async def test_component_exec_rejects_a_non_object_payload(build: Build) -> None:
    engine = build(
        flow("main", node("g", "component.exec", "text", component_ref="c", operation="op"))
    )
    with pytest.raises(FlowError, match="invalid payload for component.exec"):
        await run(engine)


async def test_pack_component_splits_input_and_config(build: Build, components: Components) -> None:
    components.on("weather", "forecast", {"t": 20})
    engine = build(
        flow(
            "main",
            node(
                "a", "weather.forecast", {"input": {"city": "{{in.c}}"}, "config": {"u": "C"}}, "b"
            ),
            node("b", "weather", {"city": "x", "operation": "forecast"}),
        )
    )
    await run(engine, {"c": "Oslo"})
    first, second = components.calls
    assert (first.input, first.config) == ({"city": "Oslo"}, {"u": "C"})
    assert (second.input, second.config) == ({"city": "x", "operation": "forecast"}, None)


async def test_node_out_map_shapes_a_component_result(build: Build, components: Components) -> None:
    components.on("svc", "run", {"deep": {"value": 7}})
    engine = build(
        flow(
            "main",
            node(
                "n",
                "svc",
                {},
                operation="run",
                out_map={"v": "/result/deep/value", "t": "{{result.deep.value}}!"},
            ),
        )
    )
    assert await run(engine) == {"v": 7, "t": "7!"}


async def test_node_out_map_pointer_to_nothing_fails(build: Build, components: Components) -> None:
    components.on("svc", "run", {})
    engine = build(flow("main", node("n", "svc", {}, operation="run", out_map={"v": "/result/x"})))
    with pytest.raises(
        FlowError, match="node n: failed to render mapping: mapping path `/result/x` not found"
    ):
        await run(engine)


# -- mcp.exec (legacy) --------------------------------------------------------------------


async def test_mcp_exec_resolves_bare_paths_in_args(build: Build, components: Components) -> None:
    components.on("weather_api", "forecast_weather", lambda call: {"got": call.input})
    mapping = {
        "component": "weather_api",
        "action": "forecast_weather",
        "args": {
            "q": "in.city",
            "days": "parameters.days_default",
            "lit": "v1.2",
            "tmpl": "{{in.city}}!",
        },
    }
    engine = build(flow("main", node("f", "mcp.exec", mapping), parameters={"days_default": 3}))
    assert await run(engine, {"city": "Oslo"}) == {
        "got": {"q": "Oslo", "days": 3, "lit": "v1.2", "tmpl": "Oslo!"}
    }


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([], "invalid payload for mcp.exec"),
        ({"action": "a"}, "mcp.exec requires a non-empty `component`"),
        ({"component": "c"}, "mcp.exec requires a non-empty `action`"),
    ],
    ids=["not-object", "no-component", "no-action"],
)
async def test_mcp_exec_errors(build: Build, mapping: Any, message: str) -> None:
    engine = build(flow("main", node("f", "mcp.exec", mapping)))
    with pytest.raises(FlowError, match=message):
        await run(engine)


# -- provider.invoke ----------------------------------------------------------------------

PROVIDERS = {
    PROVIDER_EXTENSION: {
        "inline": {
            "providers": [
                {
                    "provider_type": "messaging.webchat",
                    "ops": ["send"],
                    "runtime": {
                        "component_ref": "webchat-comp",
                        "export": "invoke",
                        "world": "greentic:provider/schema-core@1.0.0",
                    },
                }
            ]
        }
    }
}


def provider_pack(*flows: Any) -> Any:
    return make_pack(PACK, list(flows), extensions=PROVIDERS)


async def test_provider_invoke_with_in_map_and_out_map(
    build: Build, components: Components
) -> None:
    components.providers[("webchat-comp", "send")] = lambda call: {
        "id": "m1",
        "echo": orjson.loads(call.input),
    }
    mapping = {
        "provider_type": "messaging.webchat",
        "op": "send",
        "input": {"text": "{{in.text}}"},
        "in_map": {"body": "/input/text", "who": "{{in.user}}"},
        "out_map": {"message_id": "/result/id", "sent": "{{result.echo.body}}"},
    }
    engine = build(pack=provider_pack(flow("main", node("p", "provider.invoke", mapping))))
    assert await run(engine, {"text": "hi", "user": "ada"}) == {"message_id": "m1", "sent": "hi"}
    call = components.provider_calls[0]
    assert orjson.loads(call.input) == {"body": "hi", "who": "ada"}
    assert (
        call.binding.provider_type == "messaging.webchat"
        and call.binding.provider_id == "messaging.webchat"
    )


async def test_provider_invoke_without_maps_passes_input_and_result(
    build: Build, components: Components
) -> None:
    components.providers[("webchat-comp", "send")] = lambda call: {"raw": True}
    mapping = {"provider_id": "messaging.webchat", "operation": "send", "input": [1, 2]}
    engine = build(pack=provider_pack(flow("main", node("p", "provider.invoke", mapping))))
    assert await run(engine) == {"raw": True}
    assert orjson.loads(components.provider_calls[0].input) == [1, 2]


async def test_provider_invoke_uses_an_instance_document(
    build: Build, components: Components, store: InMemoryStateStore
) -> None:
    instance = {
        "provider_type": "messaging.webchat",
        "component_ref": "tenant-comp",
        "export": "invoke",
        "world": "w",
        "enabled": True,
        "config": {"k": 1},
    }
    await store.set_json(
        TenantCtx("local", TENANT), "runner", "providers/instances/wc1.json", instance
    )
    components.providers[("tenant-comp", "send")] = lambda call: {"via": "instance"}
    mapping = {"provider_id": "wc1", "op": "send", "input": {}}
    engine = build(pack=provider_pack(flow("main", node("p", "provider.invoke", mapping))))
    assert await run(engine) == {"via": "instance"}
    assert components.provider_calls[0].binding.config_json == {"k": 1}


@pytest.mark.parametrize(
    ("mapping", "error", "message"),
    [
        ("x", FlowError, "invalid payload for provider.invoke"),
        ({"provider_type": "messaging.webchat"}, FlowError, "provider.invoke requires an op"),
        ({"op": "send"}, ProviderError, "provider.invoke requires provider_id or provider_type"),
        (
            {"op": "send", "provider_type": "nope"},
            ProviderError,
            "no provider runtime found for type `nope`",
        ),
        ({"op": "send", "provider_id": "ghost"}, ProviderError, "provider_id `ghost` not found"),
        ({"op": "send", "provider_id": 5}, FlowError, "`provider_id` must be a string"),
        (
            {"op": "send", "provider_type": "messaging.webchat", "in_map": "/input/missing"},
            FlowError,
            "mapping path `/input/missing` not found",
        ),
    ],
    ids=["not-object", "no-op", "no-target", "unknown-type", "unknown-id", "bad-id", "bad-pointer"],
)
async def test_provider_invoke_errors(
    build: Build, mapping: Any, error: type[Exception], message: str
) -> None:
    engine = build(pack=provider_pack(flow("main", node("p", "provider.invoke", mapping))))
    with pytest.raises(error, match=message) as info:
        await run(engine)
    assert f"flow {PACK}:main, node p" in str(info.value)


async def test_provider_invoke_in_a_pack_without_manifest(build: Build) -> None:
    pack = make_pack(
        PACK,
        [flow("main", node("p", "provider.invoke", {"op": "send", "provider_type": "t"}))],
        has_manifest=False,
    )
    with pytest.raises(ProviderError, match="pack demo.pack has no manifest"):
        await run(build(pack=pack))


async def test_provider_instance_disabled(build: Build, store: InMemoryStateStore) -> None:
    await store.set_json(
        TenantCtx("local", TENANT),
        "runner",
        "providers/instances/wc1.json",
        {"provider_type": "t", "component_ref": "c", "export": "e", "world": "w"},
    )
    engine = build(
        pack=provider_pack(
            flow("main", node("p", "provider.invoke", {"op": "send", "provider_id": "wc1"}))
        )
    )
    with pytest.raises(ProviderError, match="provider `wc1` is disabled"):
        await run(engine)


# -- classification -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"component": "qa.process"}, NodeKind("qa.process")),
        ({"component": "qa.process", "component_ref": "qa.process"}, NodeKind("qa.process")),
        ({"component": "qa.process", "component_ref": "acme.qa"}, NodeKind("component", "acme.qa")),
        ({"component": "emit.response"}, NodeKind("emit", "emit.response")),
        ({"component": "x", "operation": "emit.log"}, NodeKind("emit", "emit.log")),
        (
            {"component": "messaging.telegram.sendMessage"},
            NodeKind("component", "messaging.telegram", "sendMessage"),
        ),
        ({"component": "comp", "operation": "op"}, NodeKind("component", "comp", "op")),
        (
            {"component": "component.exec", "operation": "handle_message"},
            NodeKind("exec", None, "handle_message"),
        ),
        (
            {"component": "component.exec", "operation": "email.google.send"},
            NodeKind("exec", "email.google", "send"),
        ),
        ({"component": "component.exec", "operation": "state.get"}, NodeKind("state.get")),
        (
            {"component": "component.exec", "operation": "template", "component_ref": "ai.tmpl"},
            NodeKind("exec", "ai.tmpl", "template"),
        ),
        (
            {"component": "component.exec", "mapping": {"component": "emit.response"}},
            NodeKind("emit", "emit.response"),
        ),
        (
            {"component": "component.exec", "mapping": {"component": "c", "operation": "o"}},
            NodeKind("exec", "c", None),
        ),
    ],
)
def test_classify(fields: dict[str, Any], expected: NodeKind) -> None:
    assert classify(Node(id="n", **fields)) == expected


# -- qa.process / questions ---------------------------------------------------------------

FORM = {
    "welcome": "Hi! A few questions.",
    "questions": [
        {"id": "name", "prompt": "Your name?", "answer_type": "text", "max_words": 2},
        {"id": "age", "prompt": "Your age?", "answer_type": "integer"},
        {
            "id": "pet",
            "prompt": "Cat or dog?",
            "answer_type": "choice",
            "options": [{"value": "cat", "label": "Cat"}, "dog"],
        },
        {"id": "news", "prompt": "Newsletter?", "answer_type": "boolean", "optional": True},
        {"id": "score", "prompt": "Score?", "answer_type": "number", "default": 1.5},
    ],
}


class Conversation:
    """Drives a flow turn by turn, storing snapshots as JSON like a session store would."""

    def __init__(self, engine: FlowEngine) -> None:
        self.engine = engine
        self.snapshot: dict[str, Any] | None = None

    async def say(self, text: Any) -> Any:
        payload = {"text": text} if isinstance(text, str) else text
        if self.snapshot is None:
            result = await self.engine.execute(ctx(), payload)
        else:
            snapshot = FlowSnapshot.from_dict(orjson.loads(orjson.dumps(self.snapshot)))
            result = await self.engine.resume(ctx(), snapshot, payload)
        self.snapshot = result.wait.snapshot.to_dict() if isinstance(result, Waiting) else None
        return result.output


def texts(output: Any) -> list[str]:
    return [message["text"] for message in output]


async def test_qa_asks_validates_and_collects(build: Build) -> None:
    chat = Conversation(
        build(
            flow(
                "main",
                node("ask", "qa.process", FORM, "done"),
                node(
                    "done",
                    "template",
                    "{{ask.payload.name}} {{in.age}} {{state.pet}} "
                    "{{ask.payload.news}} {{ask.payload.score}}",
                ),
            )
        )
    )
    assert texts(await chat.say("hello")) == ["Hi! A few questions.", "Your name?"]
    assert texts(await chat.say("Ada Lovelace Byron")) == [
        "Please answer in at most 2 words.",
        "Your name?",
    ]
    assert texts(await chat.say("Ada Lovelace")) == ["Your age?"]
    assert texts(await chat.say("thirty")) == ["Please answer with a whole number.", "Your age?"]
    assert texts(await chat.say(" 36 ")) == ["Cat or dog?"]
    assert texts(await chat.say("horse")) == ["Please choose one of: Cat, dog.", "Cat or dog?"]
    assert texts(await chat.say("2")) == ["Newsletter?"]
    assert texts(await chat.say("maybe")) == ["Please answer yes or no.", "Newsletter?"]
    assert texts(await chat.say("")) == ["Score?"]  # optional: no answer is fine
    result = await chat.say("  ")  # default
    assert result == {"text": "Ada Lovelace 36 dog  1.5"}
    assert chat.snapshot is None


async def test_qa_output_is_the_answers(build: Build) -> None:
    chat = Conversation(build(flow("main", node("ask", "qa.process", FORM))))
    for answer in ["start", "Ada", "36", "CAT", "yes"]:
        await chat.say(answer)
    assert await chat.say("2.5") == {
        "name": "Ada",
        "age": 36,
        "pet": "cat",
        "news": True,
        "score": 2.5,
    }


async def test_qa_resumes_at_the_same_node_with_progress_in_the_state(build: Build) -> None:
    engine = build(flow("main", node("ask", "qa.process", FORM)))
    first = await engine.execute(ctx(), {"text": "hi"})
    assert isinstance(first, Waiting)
    snapshot = first.wait.snapshot
    assert snapshot.next_node == "ask" and first.wait.reason == "awaiting answer to `name`"
    assert snapshot.state.nodes["ask"].meta == {
        "qa": {"status": "waiting", "question": "name", "attempts": 1}
    }


async def test_required_answers(build: Build) -> None:
    chat = Conversation(build(flow("main", node("ask", "qa.process", FORM))))
    await chat.say("start")
    assert texts(await chat.say("   ")) == ["An answer is required.", "Your name?"]


async def test_qa_answers_accept_structured_input(build: Build) -> None:
    chat = Conversation(
        build(
            flow(
                "main",
                node(
                    "ask",
                    "questions",
                    {
                        "fields": [
                            {"id": "ok", "prompt": "OK?", "type": "bool"},
                            {"id": "n", "prompt": "N?", "type": "number"},
                        ]
                    },
                ),
            )
        )
    )
    assert texts(await chat.say("start")) == ["OK?"]
    await chat.say({"ok": False})
    assert await chat.say({"answer": 4}) == {"ok": False, "n": 4}


async def test_questions_with_defaults_and_show_if(build: Build) -> None:
    form = {
        "fields": [
            {"id": "mode", "prompt": "Mode?", "type": "choice", "options": ["simple", "expert"]},
            {
                "id": "detail",
                "prompt": "Detail level?",
                "type": "int",
                "show_if": 'answers.mode == "expert"',
            },
            {
                "id": "tone",
                "prompt": "Tone?",
                "type": "string",
                "default": "friendly",
                "show_if": {"field": "mode", "equals": "simple"},
            },
        ]
    }
    engine = build(flow("main", node("ask", "questions", form)))
    chat = Conversation(engine)
    await chat.say("go")
    assert texts(await chat.say("simple")) == ["Tone?"]
    assert await chat.say("") == {"mode": "simple", "tone": "friendly"}
    chat = Conversation(engine)
    await chat.say("go")
    assert texts(await chat.say("expert")) == ["Detail level?"]
    assert await chat.say("3") == {"mode": "expert", "detail": 3}


async def test_choice_prompts_list_their_options(build: Build) -> None:
    engine = build(flow("main", node("ask", "qa.process", {"questions": [FORM["questions"][2]]})))
    result = await engine.execute(ctx(), {})
    assert result.output == [{"text": "Cat or dog?", "options": ["Cat", "dog"]}]


async def test_a_form_without_questions_is_a_message(build: Build) -> None:
    engine = build(flow("main", node("in", "qa.process", {"welcome": "Hello from flow_ok"})))
    assert await run(engine) == {"text": "Hello from flow_ok"}


async def test_answers_feed_legacy_paths_and_later_nodes(
    build: Build, components: Components
) -> None:
    # The weather_bot shape: qa answer read back as the bare path `in.q_location`.
    components.on("weather_api", "forecast_weather", lambda call: {"city": call.input["q"]})
    chat = Conversation(
        build(
            flow(
                "main",
                node(
                    "collect",
                    "qa.process",
                    {"questions": [{"id": "q_location", "prompt": "City?"}]},
                    "fc",
                ),
                node(
                    "fc",
                    "mcp.exec",
                    {
                        "component": "weather_api",
                        "action": "forecast_weather",
                        "args": {"q": "in.q_location"},
                    },
                    "say",
                ),
                node("say", "templating.handlebars", {"text": "Weather for {{fc.payload.city}}"}),
            )
        )
    )
    assert texts(await chat.say("hi")) == ["City?"]
    assert await chat.say("Paris") == {"text": "Weather for Paris"}


async def test_re_entering_a_finished_form_starts_over(build: Build) -> None:
    form = {"questions": [{"id": "q", "prompt": "Again?", "answer_type": "boolean"}]}
    routes = Custom((Route(to="ask", condition="ask.payload.q"), Route(out=True)))
    chat = Conversation(build(flow("main", node("ask", "qa.process", form, routes))))
    assert texts(await chat.say("go")) == ["Again?"]
    assert texts(await chat.say("yes")) == ["Again?"]
    assert await chat.say("no") == {"q": False}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ("text", "qa node payload must be an object"),
        ({"questions": "x"}, "qa node `questions` must be a list"),
        ({"welcome": 3}, "qa node `welcome` must be a string"),
        ({"questions": [{"prompt": "?"}]}, "question #1 needs a non-empty string `id`"),
        ({"questions": [{"id": "a"}, {"id": "a"}]}, "duplicate question id `a`"),
        (
            {"questions": [{"id": "a", "answer_type": "date"}]},
            "question `a` has unknown answer_type 'date'",
        ),
        ({"questions": [{"id": "a", "max_words": 0}]}, "`max_words` must be a positive integer"),
        (
            {"questions": [{"id": "a", "answer_type": "choice"}]},
            "question `a` of type choice needs `options`",
        ),
        ({"questions": [{"id": "a", "options": [None]}]}, "option None must be a value"),
        ({"questions": [{"id": "a", "show_if": 3}]}, "`show_if` must be a condition string"),
    ],
    ids=[
        "not-object",
        "not-list",
        "welcome",
        "no-id",
        "duplicate",
        "type",
        "max-words",
        "no-options",
        "bad-option",
        "bad-show-if",
    ],
)
async def test_qa_definition_errors(build: Build, form: Any, message: str) -> None:
    engine = build(flow("main", node("ask", "qa.process", form)))
    with pytest.raises(FlowError, match=message) as info:
        await run(engine)
    assert f"flow {PACK}:main, node ask" in str(info.value)

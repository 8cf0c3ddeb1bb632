"""MockInvoker: canned component and provider answers from the bindings ``mocks:`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.components.mocks import MockInvoker, MockTable, parse_mocks
from greentic_runner.config import load_bindings
from greentic_runner.errors import ComponentError, ConfigError
from greentic_runner.packs.files import DirectoryFiles
from greentic_runner.packs.pack import ComponentSpec, PackRuntime
from greentic_runner.packs.providers import (
    NO_MATCH,
    UNSUPPORTED,
    IdentifyHint,
    IdentifyOutcome,
    ProviderBinding,
)

CTX = ExecCtx(tenant="demo", flow_id="main", node_id="ask")
WEATHER = {
    "components": {
        "weather_api": {
            "forecast": [
                {"when": {"q": "London"}, "output": {"temp_c": 11}},
                {"when": {"location.country": "BE", "units": {"temp": "c"}}, "output": "be"},
                {"when": {"strict": True}, "output": "bool"},
                {"output": {"temp_c": 20}},
            ],
            "ping": {"output": "pong"},
            "broken": {"error": {"code": "upstream_down", "message": "down", "retryable": True}},
            "gone": {"error": "no such city"},
        },
        "echo": {"*": [{"output": {"any": "operation"}}]},
    }
}


@pytest.fixture
def pack(tmp_path: Path) -> PackRuntime:
    return PackRuntime(
        pack_id="weather.pack",
        version="1.0.0",
        flows={},
        files=DirectoryFiles(tmp_path),
        source=tmp_path,
        generation="directory",
        components={
            "weather_api": ComponentSpec("weather_api", source_ref="oci://ghcr.io/acme/weather:1"),
            "local": ComponentSpec("local", wasm_path="components/local.wasm"),
        },
    )


def call(component: str, operation: str, value: Any = None) -> ComponentCall:
    return ComponentCall(component_ref=component, operation=operation, input=value, ctx=CTX)


class RecordingFallback:
    """A stand-in for the WebAssembly invoker: answers everything and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        self.calls.append(("invoke", (call.component_ref, call.operation)))
        return {"from": "fallback"}

    async def invoke_provider(
        self, pack: PackRuntime, binding: ProviderBinding, op: str, input: bytes, ctx: ExecCtx
    ) -> Any:
        self.calls.append(("invoke_provider", op))
        return {"from": "fallback"}

    async def identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding, payload: bytes
    ) -> IdentifyOutcome:
        self.calls.append(("identify", binding.provider_type))
        return IdentifyOutcome.identified("from-fallback")

    async def describe_identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding
    ) -> IdentifyHint | None:
        self.calls.append(("describe", binding.provider_type))
        return IdentifyHint(version=1, headers=("x-fallback",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"q": "London", "days": 3}, {"temp_c": 11}),
        ({"location": {"country": "BE"}, "units": {"temp": "c", "wind": "kph"}}, "be"),
        ({"location.country": "BE", "units": {"temp": "c"}}, "be"),  # a literal dotted key
        ({"location": {"country": "BE"}, "units": {"wind": "kph"}}, {"temp_c": 20}),
        ({"strict": True}, "bool"),
        ({"strict": 1}, {"temp_c": 20}),  # JSON true is not 1
        ({"q": "Paris"}, {"temp_c": 20}),
        ("not a mapping", {"temp_c": 20}),
        (None, {"temp_c": 20}),
    ],
)
async def test_the_first_matching_case_answers(
    pack: PackRuntime, value: Any, expected: Any
) -> None:
    assert (
        await MockInvoker(WEATHER).invoke(pack, call("weather_api", "forecast", value)) == expected
    )


async def test_single_case_shorthand_and_any_operation(pack: PackRuntime) -> None:
    invoker = MockInvoker(WEATHER)
    assert await invoker.invoke(pack, call("weather_api", "ping")) == "pong"
    assert await invoker.invoke(pack, call("echo", "whatever")) == {"any": "operation"}


async def test_error_cases_answer_like_a_failing_component(pack: PackRuntime) -> None:
    invoker = MockInvoker(WEATHER)
    assert await invoker.invoke(pack, call("weather_api", "broken")) == {
        "ok": False,
        "error": {"code": "upstream_down", "message": "down", "retryable": True},
    }
    assert await invoker.invoke(pack, call("weather_api", "gone")) == {
        "ok": False,
        "error": {"code": "mock_error", "message": "no such city", "retryable": False},
    }


async def test_answers_are_fresh_copies(pack: PackRuntime) -> None:
    invoker = MockInvoker(WEATHER)
    first = await invoker.invoke(pack, call("weather_api", "forecast", {"q": "London"}))
    first["temp_c"] = -99
    again = await invoker.invoke(pack, call("weather_api", "forecast", {"q": "London"}))
    assert again == {"temp_c": 11}


async def test_an_unmocked_component_names_component_operation_and_source(
    pack: PackRuntime,
) -> None:
    invoker = MockInvoker({"components": {"echo": {"run": {"output": 1}}}})
    with pytest.raises(ComponentError) as err:
        await invoker.invoke(pack, call("weather_api", "forecast"))
    message = str(err.value)
    assert "component `weather_api` operation `forecast`" in message
    assert "(source: oci://ghcr.io/acme/weather:1)" in message
    assert "pack weather.pack" in message
    assert "not mocked in the bindings `mocks:` section" in message
    with pytest.raises(ComponentError, match=r"\(source: components/local.wasm\)"):
        await invoker.invoke(pack, call("local", "run"))
    with pytest.raises(ComponentError, match=r"\(source: unknown: not declared by the pack\)"):
        await invoker.invoke(pack, call("nobody", "run"))


async def test_a_mocked_operation_without_a_matching_case(pack: PackRuntime) -> None:
    invoker = MockInvoker(
        {"components": {"weather_api": {"forecast": [{"when": {"q": "x"}, "output": 1}]}}}
    )
    with pytest.raises(ComponentError, match="no mock case of component `weather_api`"):
        await invoker.invoke(pack, call("weather_api", "forecast", {"q": "y"}))
    with pytest.raises(ComponentError, match="operation `other`"):
        await invoker.invoke(pack, call("weather_api", "other"))


async def test_calls_no_case_answers_go_to_the_fallback(pack: PackRuntime) -> None:
    fallback = RecordingFallback()
    invoker = MockInvoker(
        {"components": {"weather_api": {"forecast": [{"when": {"q": "x"}, "output": 1}]}}},
        fallback=fallback,
    )
    assert await invoker.invoke(pack, call("weather_api", "forecast", {"q": "x"})) == 1
    assert await invoker.invoke(pack, call("weather_api", "forecast", {"q": "y"})) == {
        "from": "fallback"
    }
    assert await invoker.invoke(pack, call("other", "run")) == {"from": "fallback"}
    assert fallback.calls == [
        ("invoke", ("weather_api", "forecast")),
        ("invoke", ("other", "run")),
    ]


async def test_no_mocks_section_means_everything_goes_to_the_fallback(pack: PackRuntime) -> None:
    fallback = RecordingFallback()
    invoker = MockInvoker(None, fallback=fallback)
    assert invoker.table == MockTable()
    assert await invoker.invoke(pack, call("weather_api", "forecast")) == {"from": "fallback"}


# --- providers ---------------------------------------------------------------------------

TELEGRAM = ProviderBinding(
    provider_type="messaging.telegram.bot",
    component_ref="telegram-provider",
    export="schema-core-api",
    world="greentic:provider/schema-core@1.0.0",
    provider_id="tg-main",
)
PROVIDERS = {
    "providers": {
        "messaging.telegram.bot": {
            "ops": {
                "send": [
                    {"when": {"chat_id": 42}, "output": {"ok": True, "id": 1}},
                    {"output": {"ok": True, "id": 0}},
                ]
            },
            "identify": "tg-main",
            "describe": {
                "version": 1,
                "sources": [
                    {"header": {"name": "X-Telegram-Bot-Api-Secret-Token"}},
                    {"body_path": {"json_pointer": "/recipient/id"}},
                ],
            },
        },
        "tg-other": {"identify": False},
    }
}


async def test_provider_ops_match_on_the_json_input(pack: PackRuntime) -> None:
    invoker = MockInvoker(PROVIDERS)
    send = invoker.invoke_provider
    assert await send(pack, TELEGRAM, "send", b'{"chat_id": 42}', CTX) == {"ok": True, "id": 1}
    assert await send(pack, TELEGRAM, "send", b'{"chat_id": 7}', CTX) == {"ok": True, "id": 0}
    assert await send(pack, TELEGRAM, "send", b"\xff not json", CTX) == {"ok": True, "id": 0}


async def test_an_unmocked_provider_op(pack: PackRuntime) -> None:
    with pytest.raises(ComponentError) as err:
        await MockInvoker(PROVIDERS).invoke_provider(pack, TELEGRAM, "edit", b"{}", CTX)
    assert "provider `messaging.telegram.bot` op `edit`" in str(err.value)
    assert "component `telegram-provider`" in str(err.value)
    fallback = RecordingFallback()
    invoker = MockInvoker(PROVIDERS, fallback=fallback)
    assert await invoker.invoke_provider(pack, TELEGRAM, "edit", b"{}", CTX) == {"from": "fallback"}


async def test_identify_and_describe(pack: PackRuntime) -> None:
    invoker = MockInvoker(PROVIDERS)
    assert await invoker.identify_instance(pack, TELEGRAM, b"{}") == IdentifyOutcome.identified(
        "tg-main"
    )
    other = ProviderBinding("messaging.telegram.bot", "c", "e", "w", provider_id="tg-other")
    assert await invoker.identify_instance(pack, other, b"{}") is NO_MATCH  # by id first
    hint = await invoker.describe_identify_instance(pack, TELEGRAM)
    assert hint is not None
    assert hint.headers == ("x-telegram-bot-api-secret-token",)
    unknown = ProviderBinding("messaging.slack", "c", "e", "w")
    assert await invoker.identify_instance(pack, unknown, b"{}") is UNSUPPORTED
    assert await invoker.describe_identify_instance(pack, unknown) is None
    fallback = RecordingFallback()
    with_fallback = MockInvoker(PROVIDERS, fallback=fallback)
    assert (await with_fallback.identify_instance(pack, unknown, b"{}")).provider_id == (
        "from-fallback"
    )
    assert await with_fallback.describe_identify_instance(pack, unknown) == IdentifyHint(
        version=1, headers=("x-fallback",)
    )


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1], "`mocks` must be a mapping"),
        ({"component": {}}, "`mocks.component` is not a mocks section"),
        ({"components": []}, "`mocks.components` must be a mapping"),
        ({"components": {"c": []}}, "`mocks.components.c` must be a mapping"),
        ({"components": {"c": {"op": [1]}}}, "`mocks.components.c.op[0]` must be a mapping"),
        ({"components": {"c": {"op": {}}}}, "`mocks.components.c.op` needs exactly one of"),
        (
            {"components": {"c": {"op": {"output": 1, "error": "x"}}}},
            "`mocks.components.c.op` needs exactly one of",
        ),
        (
            {"components": {"c": {"op": [{"output": 1, "sometimes": True}]}}},
            "`mocks.components.c.op[0]` needs exactly one of",
        ),
        (
            {"components": {"c": {"op": [{"output": 1, "when": "q"}]}}},
            "`mocks.components.c.op[0].when` must be a mapping",
        ),
        ({"components": {"c": {"op": {"error": 3}}}}, "`mocks.components.c.op.error` must be"),
        ({"providers": {"p": {"op": {}}}}, "`mocks.providers.p.op` is unknown"),
        ({"providers": {"p": {"identify": True}}}, "`mocks.providers.p.identify` must be"),
        ({"providers": {"p": {"describe": {"version": 2}}}}, "`mocks.providers.p.describe`"),
        ({"providers": {"p": {"ops": {"send": {}}}}}, "`mocks.providers.p.ops.send` needs"),
    ],
)
def test_invalid_mocks_name_the_key(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_mocks(raw)
    assert message in str(err.value)
    with pytest.raises(ConfigError):
        MockInvoker(raw)


async def test_mocks_from_a_bindings_file(tmp_path: Path, pack: PackRuntime) -> None:
    path = tmp_path / "demo.bindings.yaml"
    path.write_text(
        "tenant: demo\nmocks:\n  components:\n    weather_api:\n      forecast:\n"
        "        - when: {q: London}\n          output: {temp_c: 11}\n"
    )
    invoker = MockInvoker(load_bindings(path).mocks)
    assert await invoker.invoke(pack, call("weather_api", "forecast", {"q": "London"})) == {
        "temp_c": 11
    }

"""The host's provider APIs (spec §7.3, §7.4) against real provider components, not mocks.

Revision packs declare providers in ``greentic.provider-extension.v1`` and bundle components
built from tests/components/wasm_src: ``provider`` (schema-core invoke, identify and a describe
hint for header X-Test-Secret-Token and body /recipient/id), ``identity_none`` (identify and
describe answer none) and ``echo06`` (a node component with no identify export).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.components.conftest import ARTIFACTS, TEST_LIMITS, _builder

from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.components.policy import ComponentPolicy
from greentic_runner.components.sandbox import ComponentCallError
from greentic_runner.components.scope import HostServices
from greentic_runner.components.wasm import WasmInvoker
from greentic_runner.config import HostConfig, SecretsPolicy
from greentic_runner.errors import ProviderError
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.packs.providers import (
    NO_MATCH,
    UNSUPPORTED,
    IdentifyHint,
    IdentifyOutcome,
    ProviderBinding,
)
from greentic_runner.runtime_loader import PackRef
from greentic_runner.secrets import MemorySecretsManager

TEST = "messaging.test"
OTHER = "messaging.other"
SCHEMA_CORE = {
    "export": "greentic:provider-schema-core/schema-core-api@1.0.0",
    "world": "greentic:provider-schema-core/schema-core@1.0.0",
}
REVISION = ("demo", "d1", "b1", "r1")
LABEL = "(deployment d1, revision r1)"


@pytest.fixture(scope="module")
def wasm() -> dict[str, Path]:
    """The real components, built from source (cached in .build/components/)."""
    builder = _builder()
    return {name: builder.build(name) for name in ("provider", "identity_none", "echo06")}


@pytest.fixture(autouse=True)
def shared_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's own runtime uses the default cache dir: share the test components' compiled
    # artifacts so the Python provider compiles once per machine, not once per test.
    monkeypatch.setenv("GREENTIC_RUNNER_CACHE_DIR", str(ARTIFACTS))


class PackDirs:
    """Writes provider packs: ``write(pack_id, {provider_type: (component, ops)})``."""

    def __init__(self, root: Path, wasm: dict[str, Path]) -> None:
        self.root, self.wasm = root, wasm

    def write(self, pack_id: str, providers: dict[str, tuple[str, Sequence[str]]]) -> Path:
        root = self.root / pack_id
        (root / "components").mkdir(parents=True)
        declarations = []
        for provider_type, (component, ops) in providers.items():
            shutil.copy(self.wasm[component], root / "components" / f"{component}.wasm")
            declarations.append(
                {
                    "provider_type": provider_type,
                    "capabilities": ["messaging"],
                    "ops": list(ops),
                    "config_schema_ref": "schemas/config.json",
                    "runtime": {"component_ref": component, **SCHEMA_CORE},
                }
            )
        manifest = {
            "pack_id": pack_id,
            "version": "0.1.0",
            "components": [
                {"id": c, "wasm": f"components/{c}.wasm"} for c, _ in providers.values()
            ],
            "extensions": {
                "greentic.provider-extension.v1": {"inline": {"providers": declarations}}
            },
        }
        (root / "pack.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        return root


@pytest.fixture
def dirs(tmp_path: Path, wasm: dict[str, Path]) -> PackDirs:
    return PackDirs(tmp_path, wasm)


@pytest.fixture
async def host() -> AsyncIterator[RunnerHost]:
    async with HostBuilder().with_config(HostConfig(tenant="demo")).build() as running:
        yield running


async def load(host: RunnerHost, *packs: Path) -> None:
    await host.load_revision(*REVISION, [PackRef(path) for path in packs])


def wrapped(headers: dict[str, str] | None = None, body: Any = None) -> bytes:
    """greentic-start's identify payload convention."""
    pairs = [{"name": k, "value": v} for k, v in (headers or {}).items()]
    return orjson.dumps({"headers": pairs, "body": body})


# -- invoke_provider_for_revision -------------------------------------------------------------


async def test_invoke_reaches_the_component_of_the_one_binding_pack(
    host: RunnerHost, dirs: PackDirs
) -> None:
    await load(
        host,
        dirs.write("main", {OTHER: ("identity_none", ["send"])}),
        dirs.write("tg", {TEST: ("provider", ["send", "echo"])}),
    )
    sent = await host.invoke_provider_for_revision(*REVISION, TEST, "send", b'{"to":"u1"}')
    assert sent == {"ok": True, "message_id": "m-1", "to": "u1"}
    echoed = await host.invoke_provider_for_revision(
        *REVISION, TEST, "echo", b'{"a":[1,2]}', correlation_id="corr-1", trace_id="t-1"
    )
    assert echoed == {"op": "echo", "input": {"a": [1, 2]}}


async def test_an_op_outside_the_declaration_never_reaches_the_component(
    host: RunnerHost, dirs: PackDirs
) -> None:
    # The component itself knows `crash`; the pack does not declare it, so it is refused.
    await load(host, dirs.write("tg", {TEST: ("provider", ["send"])}))
    with pytest.raises(ProviderError) as caught:
        await host.invoke_provider_for_revision(*REVISION, TEST, "crash", b"{}")
    assert str(caught.value) == (
        f"op `crash` is not declared for provider_type `{TEST}` in revision {LABEL}; "
        'declared ops: ["send"]'
    )


async def test_empty_ops_reject_every_op(host: RunnerHost, dirs: PackDirs) -> None:
    await load(host, dirs.write("tg", {TEST: ("provider", [])}))
    with pytest.raises(ProviderError, match=r"declared ops: \[\]$"):
        await host.invoke_provider_for_revision(*REVISION, TEST, "send", b"{}")


async def test_the_same_type_in_main_and_overlay_is_ambiguous(
    host: RunnerHost, dirs: PackDirs
) -> None:
    await load(
        host,
        dirs.write("main", {TEST: ("provider", ["send"])}),
        dirs.write("overlay", {TEST: ("provider", ["send"])}),
    )
    with pytest.raises(ProviderError) as caught:
        await host.invoke_provider_for_revision(*REVISION, TEST, "send", b"{}")
    assert str(caught.value) == (
        f"ambiguous provider_type `{TEST}` in revision {LABEL}: multiple packs bind the same "
        "type; pack manifests must declare each provider_type at most once across main + overlays"
    )


async def test_a_type_no_pack_binds_is_an_error(host: RunnerHost, dirs: PackDirs) -> None:
    await load(host, dirs.write("tg", {TEST: ("provider", ["send"])}))
    with pytest.raises(ProviderError) as caught:
        await host.invoke_provider_for_revision(*REVISION, "messaging.slack", "send", b"{}")
    assert str(caught.value) == (
        f"no pack in revision binds provider_type `messaging.slack` {LABEL}"
    )


@pytest.mark.parametrize(
    ("op", "kind", "cause"),
    [("bad-json", "payload", "provider output is not JSON"), ("crash", "trap", "wasm trap")],
)
async def test_component_failures_fail_the_call_and_the_next_call_works(
    host: RunnerHost, dirs: PackDirs, op: str, kind: str, cause: str
) -> None:
    await load(host, dirs.write("tg", {TEST: ("provider", ["send", op])}))
    with pytest.raises(ComponentCallError) as caught:
        await host.invoke_provider_for_revision(*REVISION, TEST, op, b"{}")
    assert caught.value.kind == kind
    assert f"component provider failed in operation {op} (tenant demo, pack tg)" in str(
        caught.value
    )
    assert cause in str(caught.value)
    again = await host.invoke_provider_for_revision(*REVISION, TEST, "send", b'{"to":"u2"}')
    assert again["to"] == "u2"


async def test_bindings_mocks_answer_first_and_the_rest_reaches_the_component(
    dirs: PackDirs,
) -> None:
    mocks = {"providers": {TEST: {"ops": {"send": [{"output": {"mocked": True}}]}}}}
    async with HostBuilder().with_config(HostConfig("demo", mocks=mocks)).build() as host:
        await load(host, dirs.write("tg", {TEST: ("provider", ["send", "echo"])}))
        assert await host.invoke_provider_for_revision(*REVISION, TEST, "send", b"{}") == {
            "mocked": True
        }
        assert await host.invoke_provider_for_revision(*REVISION, TEST, "echo", b"7") == {
            "op": "echo",
            "input": 7,
        }


# -- identify across packs --------------------------------------------------------------------


async def test_identify_outcomes_from_real_probes(host: RunnerHost, dirs: PackDirs) -> None:
    await load(
        host,
        dirs.write("tg", {TEST: ("provider", ["send"]), OTHER: ("identity_none", ["send"])}),
        dirs.write("echo", {"messaging.echo": ("echo06", ["send"])}),
    )
    types = [TEST, OTHER, "messaging.echo", "messaging.unbound"]
    result = await host.identify_messaging_endpoints_for_revision(
        *REVISION, types, wrapped({"X-Test-Secret-Token": "tok-a"})
    )
    assert result == {
        TEST: IdentifyOutcome.identified("provider-a"),  # the component matched the header
        OTHER: NO_MATCH,  # identify-instance answered none
        "messaging.echo": UNSUPPORTED,  # the component has no identify export
        "messaging.unbound": UNSUPPORTED,  # no pack binds the type
    }


async def test_a_later_pack_upgrades_no_match_to_identified(
    host: RunnerHost, dirs: PackDirs
) -> None:
    await load(
        host,
        dirs.write("main", {TEST: ("identity_none", ["send"])}),
        dirs.write("overlay", {TEST: ("provider", ["send"])}),
    )
    result = await host.identify_messaging_endpoints_for_revision(
        *REVISION, [TEST], wrapped(body={"recipient": {"id": "bot-b"}})
    )
    assert result == {TEST: IdentifyOutcome.identified("provider-b")}


async def test_a_later_no_match_never_replaces_an_identified(
    host: RunnerHost, dirs: PackDirs
) -> None:
    await load(
        host,
        dirs.write("main", {TEST: ("provider", ["send"]), OTHER: ("echo06", ["send"])}),
        dirs.write("overlay", {TEST: ("identity_none", ["send"]), OTHER: ("identity_none", [])}),
    )
    result = await host.identify_messaging_endpoints_for_revision(
        *REVISION, [TEST, OTHER], wrapped(body={"recipient": {"id": "bot-b"}})
    )
    # TEST: identified by main, kept; OTHER: Unsupported in main, upgraded to NoMatch.
    assert result == {TEST: IdentifyOutcome.identified("provider-b"), OTHER: NO_MATCH}


async def test_nothing_matching_is_no_match(host: RunnerHost, dirs: PackDirs) -> None:
    await load(host, dirs.write("tg", {TEST: ("provider", ["send"])}))
    result = await host.identify_messaging_endpoints_for_revision(
        *REVISION, [TEST], wrapped({"X-Test-Secret-Token": "wrong"}, {"recipient": {"id": "x"}})
    )
    assert result == {TEST: NO_MATCH}


async def test_a_failing_probe_aborts_the_whole_call(host: RunnerHost, dirs: PackDirs) -> None:
    await load(host, dirs.write("tg", {TEST: ("provider", ["send"])}))
    with pytest.raises(ComponentCallError) as caught:  # the guest cannot parse the payload
        await host.identify_messaging_endpoints_for_revision(*REVISION, [TEST], b"not json")
    assert caught.value.kind == "trap"
    assert caught.value.component == "provider"


async def test_identify_probes_run_with_nothing_allowed(dirs: PackDirs) -> None:
    # This tenant may read every secret, and the secret exists; a probe still sees nothing.
    config = HostConfig("demo", secrets_policy=SecretsPolicy(allow_all=True))
    secrets = MemorySecretsManager({"PROVIDER_TOKEN": "s3cret"})
    builder = HostBuilder().with_config(config).with_secrets_manager(secrets)
    async with builder.build() as host:
        await load(host, dirs.write("tg", {TEST: ("provider", ["send"])}))
        result = await host.identify_messaging_endpoints_for_revision(
            *REVISION, [TEST], wrapped(body={"probe": "secret"})
        )
    assert result == {TEST: IdentifyOutcome.identified("secret-denied")}


# -- describe hints and scoped headers --------------------------------------------------------

# The component declares header `X-Test-Secret-Token`; the host keeps names lower-cased.
PROVIDER_HINT = IdentifyHint(
    version=1,
    headers=("x-test-secret-token",),
    raw={
        "version": 1,
        "sources": [
            {"header": {"name": "x-test-secret-token"}},
            {"body_path": {"json_pointer": "/recipient/id"}},
        ],
    },
)


async def test_describe_takes_the_first_real_hint_per_type(
    host: RunnerHost, dirs: PackDirs
) -> None:
    await load(
        host,
        dirs.write("main", {TEST: ("identity_none", ["send"]), OTHER: ("echo06", ["send"])}),
        dirs.write("overlay", {TEST: ("provider", ["send"])}),
    )
    result = await host.describe_identify_instances_for_revision(
        *REVISION, [TEST, OTHER, "messaging.unbound"]
    )
    assert result == {TEST: PROVIDER_HINT, OTHER: None, "messaging.unbound": None}


class RecordingInvoker:
    """Delegates to the real WebAssembly invoker and keeps every identify payload it passes.

    The thing under test is the host's scoped payload; the components still decide."""

    def __init__(self, inner: WasmInvoker) -> None:
        self.inner = inner
        self.payloads: dict[str, list[Any]] = {}
        self.described: list[tuple[str, str]] = []

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        return await self.inner.invoke(pack, call)

    async def invoke_provider(
        self, pack: PackRuntime, binding: ProviderBinding, op: str, input: bytes, ctx: ExecCtx
    ) -> Any:
        return await self.inner.invoke_provider(pack, binding, op, input, ctx)

    async def identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding, payload: bytes
    ) -> IdentifyOutcome:
        self.payloads.setdefault(binding.component_ref, []).append(orjson.loads(payload))
        return await self.inner.identify_instance(pack, binding, payload)

    async def describe_identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding
    ) -> IdentifyHint | None:
        self.described.append((pack.pack_id, binding.component_ref))
        return await self.inner.describe_identify_instance(pack, binding)


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[RunnerHost, RecordingInvoker]]:
    services = HostServices(policy_for=lambda ctx, pack: ComponentPolicy())
    async with WasmInvoker(services=services, limits=TEST_LIMITS, cache_dir=ARTIFACTS) as wasm:
        recorder = RecordingInvoker(wasm)
        builder = HostBuilder().with_config(HostConfig("demo"))
        async with builder.with_component_invoker(recorder).build() as host:
            yield host, recorder


async def test_scoped_identify_sends_a_hinted_component_only_its_headers(
    recorded: tuple[RunnerHost, RecordingInvoker], dirs: PackDirs
) -> None:
    host, recorder = recorded
    await load(host, dirs.write("tg", {TEST: ("provider", ["send"]), OTHER: ("identity_none", [])}))
    headers = [("x-test-secret-token", "tok-a"), ("Authorization", "Bearer abc"), ("X-Other", "1")]
    body = {"text": "hi"}
    result = await host.identify_messaging_endpoints_for_revision_scoped(
        *REVISION, [TEST, OTHER], headers, body
    )
    assert result == {TEST: IdentifyOutcome.identified("provider-a"), OTHER: NO_MATCH}
    # provider's hint names X-Test-Secret-Token (matched case-insensitively): only that header.
    assert recorder.payloads["provider"] == [
        {"headers": [{"name": "x-test-secret-token", "value": "tok-a"}], "body": body}
    ]
    # identity_none describes no hint: it receives every header.
    assert recorder.payloads["identity_none"] == [
        {"headers": [{"name": n, "value": v} for n, v in headers], "body": body}
    ]


async def test_scoped_identify_without_the_hinted_header_is_no_match(
    recorded: tuple[RunnerHost, RecordingInvoker], dirs: PackDirs
) -> None:
    host, recorder = recorded
    await load(host, dirs.write("tg", {TEST: ("provider", ["send"])}))
    result = await host.identify_messaging_endpoints_for_revision_scoped(
        *REVISION, [TEST], [("Authorization", "tok-a")], {"recipient": {"id": "nobody"}}
    )
    assert result == {TEST: NO_MATCH}
    assert recorder.payloads["provider"][0]["headers"] == []


async def test_the_describe_hint_is_probed_once_per_pack_component(
    recorded: tuple[RunnerHost, RecordingInvoker], dirs: PackDirs
) -> None:
    host, recorder = recorded
    await load(host, dirs.write("tg", {TEST: ("provider", ["send"])}))
    for _ in range(2):
        await host.identify_messaging_endpoints_for_revision_scoped(
            *REVISION, [TEST], [("X-Test-Secret-Token", "tok-a")], None
        )
    runtime = host.active.load_revision(*REVISION)
    assert runtime is not None
    assert runtime.main_pack.identify_hints == {"provider": PROVIDER_HINT}
    assert recorder.described == [("tg", "provider")]
    assert len(recorder.payloads["provider"]) == 2

"""RunnerHost: the multi-tenant host and its dispatch pipeline (the reference's host.rs).

One activity flows through: fast2flow routing → response short-circuit → flow resolution →
canonical envelope → welcome override → one turn of the flow → reply activities.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import telemetry
from .activity import Activity
from .components.cache import CompileProgress
from .components.invoker import ComponentInvoker, ExecCtx
from .components.mocks import MockInvoker
from .components.policy import ComponentPolicy
from .components.scope import HostServices
from .components.wasm import WasmInvoker
from .config import HostConfig
from .envelope import IngressEnvelope
from .errors import ConfigError, RunnerError, TenantError, with_context
from .flows.runner import run_turn
from .health import HealthState
from .packs.pack import PackRuntime
from .packs.providers import IdentifyHint, IdentifyOutcome, ProviderBinding
from .provider_fanout import (
    describe_across_packs,
    identify_across_packs,
    identify_hint,
    invoke_provider,
    scoped_payload,
)
from .routing.fast2flow import ComponentRouteProvider, RouteProvider, apply_fast2flow
from .routing.welcome import apply_welcome_override
from .runtime import ActivePacks, RolloutIds, TenantRuntime
from .runtime_loader import PackRef, RuntimeFactory, build_tenant_runtime, used_components
from .secrets import SecretsManager, default_manager
from .storage.session import InMemorySessionStore, SessionStore
from .storage.state import InMemoryStateStore, StateStore

log = logging.getLogger(__name__)

RouteProviderFactory = Callable[[TenantRuntime], RouteProvider]


@dataclass(slots=True)
class HostBuilder:
    """Collects tenant configs and injectable parts, then builds a :class:`RunnerHost`."""

    configs: dict[str, HostConfig] = field(default_factory=dict)
    secrets: SecretsManager | None = None
    session_store: SessionStore | None = None
    state_store: StateStore | None = None
    invoker: ComponentInvoker | None = None
    route_provider: RouteProviderFactory | None = None
    compile_progress: CompileProgress | None = None

    def with_config(self, config: HostConfig) -> HostBuilder:
        """Add a tenant's config; a second config for the same tenant replaces the first."""
        self.configs[config.tenant] = config
        return self

    def with_secrets_manager(self, manager: SecretsManager) -> HostBuilder:
        self.secrets = manager
        return self

    def with_session_store(self, store: SessionStore) -> HostBuilder:
        self.session_store = store
        return self

    def with_state_store(self, store: StateStore) -> HostBuilder:
        self.state_store = store
        return self

    def with_component_invoker(self, invoker: ComponentInvoker) -> HostBuilder:
        """Use this invoker for every tenant instead of mocks + WebAssembly."""
        self.invoker = invoker
        return self

    def with_compile_progress(self, progress: CompileProgress) -> HostBuilder:
        """Report WebAssembly compilations (cache misses), e.g. a terminal spinner."""
        self.compile_progress = progress
        return self

    def with_route_provider(self, factory: RouteProviderFactory) -> HostBuilder:
        """Route fast2flow through ``factory(runtime)`` instead of the pack component."""
        self.route_provider = factory
        return self

    def build(self) -> RunnerHost:
        """Raises ConfigError when no tenant is configured."""
        if not self.configs:
            raise ConfigError("at least one tenant configuration is required")
        return RunnerHost(
            configs=dict(self.configs),
            session_store=self.session_store or InMemorySessionStore(),
            state_store=self.state_store or InMemoryStateStore(),
            secrets=self.secrets or default_manager(),  # SECRETS_BACKEND (secrets.py)
            invoker=self.invoker,
            route_provider=self.route_provider,
            compile_progress=self.compile_progress,
        )


class RunnerHost:
    """Loads tenants' packs and runs their activities. Every method is a coroutine."""

    def __init__(
        self,
        *,
        configs: Mapping[str, HostConfig],
        session_store: SessionStore,
        state_store: StateStore,
        secrets: SecretsManager,
        invoker: ComponentInvoker | None = None,
        route_provider: RouteProviderFactory | None = None,
        runtime_factory: RuntimeFactory = build_tenant_runtime,
        compile_progress: CompileProgress | None = None,
    ) -> None:
        self.configs = dict(configs)
        self.active = ActivePacks()
        self.health = HealthState()
        self.session_store = session_store
        self.state_store = state_store
        self.secrets = secrets
        self._invoker = invoker
        self._wasm: WasmInvoker | None = None
        self._compile_progress = compile_progress
        self._route_provider = route_provider
        self._runtime_factory = runtime_factory
        # Read once: the process environment does not change under a running host, and
        # os.environ lookups cost a measurable share of a short turn.
        self._greentic_env = os.environ.get("GREENTIC_ENV")

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the WebAssembly runtime (unless an invoker was injected) and mark ready."""
        await self._start_wasm()
        self.health.telemetry_ready = True
        self.health.secrets_ready = True

    async def stop(self) -> None:
        """Drop every legacy and revision runtime (their timers stop), then the runtime."""
        self.active.replace({})
        if self._wasm is not None:
            wasm, self._wasm = self._wasm, None
            await wasm.__aexit__(None, None, None)

    async def __aenter__(self) -> RunnerHost:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _component_policy(self, ctx: ExecCtx, pack: PackRuntime) -> ComponentPolicy:
        config = self.configs.get(ctx.tenant)
        return ComponentPolicy.from_host_config(config) if config else ComponentPolicy()

    async def _start_wasm(self) -> WasmInvoker | None:
        """The host's one WebAssembly runtime, started on first need; None when injected."""
        if self._invoker is None and self._wasm is None:
            services = HostServices(
                secrets=self.secrets, state=self.state_store, policy_for=self._component_policy
            )
            wasm = WasmInvoker(services=services, progress=self._compile_progress)
            await wasm.__aenter__()
            self._wasm = wasm
        return self._wasm

    async def _tenant_invoker(self, config: HostConfig) -> ComponentInvoker:
        """The injected invoker, else the bindings' mocks in front of WebAssembly."""
        wasm = await self._start_wasm()
        if wasm is None:
            assert self._invoker is not None
            return self._invoker
        return MockInvoker(config.mocks, fallback=wasm) if config.mocks else wasm

    # -- loading ------------------------------------------------------------------------

    def _config(self, tenant: str) -> HostConfig:
        config = self.configs.get(tenant)
        if config is None:
            raise TenantError(f"tenant {tenant} not registered")
        if config.tenant != tenant:
            raise TenantError(
                f"tenant mismatch: config declares '{config.tenant}' but '{tenant}' was requested"
            )
        return config

    async def build_runtime(
        self,
        tenant: str,
        packs: Sequence[PackRef],
        *,
        rollout: RolloutIds | None = None,
        session_store: SessionStore | None = None,
        state_store: StateStore | None = None,
    ) -> TenantRuntime:
        """Load ``packs`` (main first, then overlays) into a runtime without activating it."""
        config = self._config(tenant)
        runtime = await self._runtime_factory(
            config,
            packs,
            session_store=session_store or self.session_store,
            state_store=state_store or self.state_store,
            secrets=self.secrets,
            invoker=await self._tenant_invoker(config),
            rollout=rollout or RolloutIds(),
        )
        if self._wasm is not None:  # a corrupt component the flows use fails the load
            for pack in runtime.packs:
                for ref in used_components(pack, config):
                    await self._wasm.load(pack, ref)
        return runtime

    async def load_pack(
        self, tenant: str, path: Path | str, overlays: Sequence[Path | str] = ()
    ) -> None:
        """Load and activate the tenant's pack (plus overlays, in order).

        The running runtime is replaced only after the new one loaded completely."""
        refs = [PackRef(Path(p)) for p in (path, *overlays)]
        try:
            runtime = await self.build_runtime(tenant, refs)
        except RunnerError as exc:
            raise with_context(f"failed to load tenant {tenant}", exc) from exc
        self.active.insert_pack(tenant, runtime)
        log.info("pack loaded", extra={"tenant": tenant, "pack": str(path)})

    async def load_revision(
        self,
        tenant: str,
        deployment_id: str,
        bundle_id: str,
        revision_id: str,
        packs: Sequence[PackRef],
        *,
        session_store: SessionStore | None = None,
        state_store: StateStore | None = None,
    ) -> None:
        """Load sha256-pinned packs as a revision runtime next to the legacy one.

        Give each live revision its own stores when several run at once (traffic split):
        session keys do not include the revision."""
        rollout = RolloutIds(deployment_id, bundle_id, revision_id)
        runtime = await self.build_runtime(
            tenant, packs, rollout=rollout, session_store=session_store, state_store=state_store
        )
        try:
            self.active.insert_revision(tenant, deployment_id, bundle_id, revision_id, runtime)
        except RunnerError:
            runtime.close()  # never activated: stop its timers
            raise

    # -- activities ---------------------------------------------------------------------

    async def handle_activity(self, tenant: str, activity: Activity) -> list[Activity]:
        runtime = self.active.load_pack(tenant)
        if runtime is None:
            raise TenantError(f"tenant {tenant} not loaded")
        return await self.dispatch(runtime, tenant, activity)

    def _revision(self, tenant: str, deployment: str, bundle: str, revision: str) -> TenantRuntime:
        runtime = self.active.load_revision(tenant, deployment, bundle, revision)
        if runtime is None:
            raise TenantError(
                f"revision runtime not loaded for tenant {tenant} "
                f"(deployment {deployment}, revision {revision})"
            )
        return runtime

    async def handle_activity_for_revision(
        self, tenant: str, deployment_id: str, bundle_id: str, revision_id: str, activity: Activity
    ) -> list[Activity]:
        runtime = self._revision(tenant, deployment_id, bundle_id, revision_id)
        return await self.dispatch(runtime, tenant, activity)

    async def dispatch(
        self, runtime: TenantRuntime, tenant: str, activity: Activity
    ) -> list[Activity]:
        """The shared pipeline of the legacy and revision entry points."""
        fast2flow = runtime.fast2flow
        if fast2flow is not None and activity.flow_id is None:
            activity = await apply_fast2flow(activity, tenant, fast2flow, self._router(runtime))
        action = activity.action()
        if action == "response" and activity.flow_id is None:
            return [activity]
        pack_id, flow_id = runtime.resolve(tenant, activity)
        flow_type = activity.resolved_flow_type()
        if flow_type is None:
            descriptor = runtime.registry.flow_by_key(pack_id, flow_id)
            flow_type = descriptor.flow_type if descriptor else None
        envelope = IngressEnvelope.canonical(
            tenant=tenant,
            env=self._greentic_env,
            pack_id=pack_id,
            flow_id=flow_id,
            flow_type=flow_type,
            action=action,
            session_hint=activity.session_id,
            provider=activity.provider_id,
            messaging_endpoint_id=activity.messaging_endpoint_id,
            channel=activity.channel_id,
            conversation=activity.conversation_id,
            user=activity.user_id,
            payload=activity.payload,
        )
        hint = activity.welcome_flow_hint
        if hint is not None:
            described = runtime.registry.flow_by_key(hint.pack_id, hint.flow_id)
            hint_type = described.flow_type if described else None
            envelope = await apply_welcome_override(
                runtime.session_store, envelope, hint, hint_type
            )
        if telemetry.tracing_active():  # operations hook: turn span
            with telemetry.turn_span(envelope, runtime.rollout):
                result = await run_turn(runtime.engine, runtime.resume, envelope, canonical=True)
        else:
            result = await run_turn(runtime.engine, runtime.resume, envelope, canonical=True)
        return normalize_replies(result, tenant)

    def _router(self, runtime: TenantRuntime) -> RouteProvider:
        if self._route_provider is not None:
            return self._route_provider(runtime)
        return ComponentRouteProvider(
            runtime.invoker, runtime.main_pack, runtime.tenant, runtime.config.fast2flow
        )

    # -- providers ----------------------------------------------------------------------

    async def identify_messaging_endpoints_for_revision(
        self,
        tenant: str,
        deployment_id: str,
        bundle_id: str,
        revision_id: str,
        provider_types: Sequence[str],
        payload: bytes,
    ) -> dict[str, IdentifyOutcome]:
        """Which provider instance each type's packs claim the payload is for."""
        if not provider_types:
            return {}
        runtime = self._revision(tenant, deployment_id, bundle_id, revision_id)

        async def same_payload(pack: PackRuntime, binding: ProviderBinding) -> bytes:
            return payload

        return await identify_across_packs(runtime, provider_types, same_payload)

    async def identify_messaging_endpoints_for_revision_scoped(
        self,
        tenant: str,
        deployment_id: str,
        bundle_id: str,
        revision_id: str,
        provider_types: Sequence[str],
        headers: Sequence[tuple[str, str]],
        body: Any,
    ) -> dict[str, IdentifyOutcome]:
        """As above, but each component sees only the headers its hint declares."""
        if not provider_types:
            return {}
        runtime = self._revision(tenant, deployment_id, bundle_id, revision_id)

        async def scoped(pack: PackRuntime, binding: ProviderBinding) -> bytes:
            return scoped_payload(await identify_hint(runtime, pack, binding), headers, body)

        return await identify_across_packs(runtime, provider_types, scoped)

    async def describe_identify_instances_for_revision(
        self,
        tenant: str,
        deployment_id: str,
        bundle_id: str,
        revision_id: str,
        provider_types: Sequence[str],
    ) -> dict[str, IdentifyHint | None]:
        if not provider_types:
            return {}
        runtime = self._revision(tenant, deployment_id, bundle_id, revision_id)
        return await describe_across_packs(runtime, provider_types)

    async def invoke_provider_for_revision(
        self,
        tenant: str,
        deployment_id: str,
        bundle_id: str,
        revision_id: str,
        provider_type: str,
        op: str,
        input_json: bytes,
        correlation_id: str | None = None,
        trace_id: str | None = None,
    ) -> Any:
        runtime = self._revision(tenant, deployment_id, bundle_id, revision_id)
        label = f"deployment {deployment_id}, revision {revision_id}"
        return await invoke_provider(
            runtime, label, provider_type, op, input_json, correlation_id, trace_id
        )

    # -- accessors ----------------------------------------------------------------------

    async def tenant(self, tenant: str) -> TenantHandle | None:
        runtime = self.active.load_pack(tenant)
        return TenantHandle(runtime) if runtime else None

    def tenant_configs(self) -> dict[str, HostConfig]:
        return dict(self.configs)


@dataclass(frozen=True, slots=True)
class TenantHandle:
    """Read access to a tenant's legacy runtime for embedders (CLI, HTTP server)."""

    runtime: TenantRuntime

    @property
    def config(self) -> HostConfig:
        return self.runtime.config

    @property
    def pack(self) -> PackRuntime:
        return self.runtime.main_pack

    @property
    def overlays(self) -> list[PackRuntime]:
        return self.runtime.overlays

    @property
    def overlay_digests(self) -> list[str | None]:
        return self.runtime.overlay_digests


def normalize_replies(result: Any, tenant: str) -> list[Activity]:
    """An array becomes one reply per element; anything else (null too) one reply."""
    if not isinstance(result, list):
        return [Activity.from_output(result, tenant)]
    return [Activity.from_output(item, tenant) for item in result]

"""WasmInvoker: the ComponentInvoker that runs pack components in wasmtime.

Usage::

    async with WasmInvoker(services=HostServices(state=store)) as invoker:
        output = await invoker.invoke(pack, ComponentCall("hello", "greet", {"name": "x"}, ctx))

The ``async with`` block owns the epoch ticker thread that enforces wall-clock deadlines
(started by the first call); calls outside it are refused. Component bytes come from
``pack.components[ref].wasm_path`` read through ``pack.read_file``; compiled artifacts are
cached in memory and on disk (:mod:`.cache`); each call runs on one of the invoker's worker
threads (:mod:`.workers`) in a fresh store (:mod:`.sandbox`), with argument and result
conversions compiled when the component is loaded (:mod:`.exportcall`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import wasmtime

from ..packs.providers import UNSUPPORTED, IdentifyHint, IdentifyOutcome, ProviderBinding
from .cache import CompileProgress, ComponentCache
from .engine import EngineSettings, EpochTicker, shared_engine
from .host_imports import build_linker
from .invoker import ComponentCall, ExecCtx
from .policy import ComponentLimits, ComponentPolicy
from .sandbox import ComponentCallError, LoadedComponent, Sandbox
from .scope import CallScope, HostServices
from .workers import WorkerThreads
from .worlds import WorldError, plan

if TYPE_CHECKING:
    from ..packs.pack import PackRuntime

log = logging.getLogger(__name__)

T = TypeVar("T")
PROBE_TENANT = "(identify probe)"


@dataclass(slots=True)
class _PackMemo:
    """Per-PackRuntime memo: loaded components by ref, describe hints by ref."""

    loaded: dict[str, LoadedComponent] = field(default_factory=dict)
    hints: dict[str, IdentifyHint | None] = field(default_factory=dict)


class WasmInvoker:
    """Runs components of loaded packs; implements the ComponentInvoker protocol."""

    def __init__(
        self,
        *,
        services: HostServices | None = None,
        limits: ComponentLimits | None = None,
        settings: EngineSettings | None = None,
        cache_dir: Path | None = None,
        progress: CompileProgress | None = None,
    ) -> None:
        self.services = services if services is not None else HostServices()
        self.limits = limits if limits is not None else ComponentLimits()
        self.settings = settings if settings is not None else EngineSettings()
        self.engine = shared_engine(self.settings)
        self.cache = ComponentCache(self.engine, self.settings, cache_dir, progress)
        self._ticker = EpochTicker(self.engine, self.settings.epoch_tick_ms)
        self._sandbox = Sandbox(self.engine, build_linker(self.engine), self._ticker)
        self._workers = WorkerThreads()
        self._by_digest: dict[str, LoadedComponent] = {}
        self._memos: weakref.WeakKeyDictionary[Any, _PackMemo] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    # -- lifespan ------------------------------------------------------------------------------

    async def __aenter__(self) -> WasmInvoker:
        await self._ticker.__aenter__()
        self._workers.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Calls still running finish first, while the ticker still enforces their deadlines.
        await asyncio.to_thread(self._workers.stop)
        await self._ticker.__aexit__(exc_type, exc, tb)

    @property
    def running(self) -> bool:
        return self._ticker.open and self._workers.running

    # -- loading -------------------------------------------------------------------------------

    def _memo(self, pack: PackRuntime) -> _PackMemo:
        with self._lock:
            memo = self._memos.get(pack.files)
            if memo is None:
                memo = _PackMemo()
                self._memos[pack.files] = memo
            return memo

    async def load(self, pack: PackRuntime, component_ref: str) -> LoadedComponent:
        """Compile (or fetch from cache) and reflect one component of ``pack``.

        Raises ComponentCallError (kind ``load``) naming the pack, component and reason.
        """
        memo = self._memo(pack)
        loaded = memo.loaded.get(component_ref)
        if loaded is None:
            loaded = await asyncio.to_thread(self._load_sync, pack, component_ref)
            memo.loaded[component_ref] = loaded
        return loaded

    async def preload(self, pack: PackRuntime) -> None:
        """Load every bundled component of ``pack`` so a bad one fails the pack load."""
        for ref, spec in pack.components.items():
            if spec.wasm_path is not None:
                await self.load(pack, ref)

    def _load_error(self, pack: PackRuntime, ref: str, reason: str) -> ComponentCallError:
        return ComponentCallError(
            f"component {ref} of pack {pack.pack_id} cannot be loaded: {reason}",
            kind="load",
            pack=pack.pack_id,
            component=ref,
        )

    def _load_sync(self, pack: PackRuntime, ref: str) -> LoadedComponent:
        spec = pack.components.get(ref)
        if spec is None:
            raise self._load_error(pack, ref, "the pack declares no such component")
        if spec.wasm_path is None:
            where = f" (source {spec.source_ref})" if spec.source_ref else ""
            raise self._load_error(pack, ref, f"no wasm is bundled{where}")
        wasm = pack.read_file(spec.wasm_path)
        if wasm is None:
            raise self._load_error(pack, ref, f"file {spec.wasm_path} is missing from the pack")
        label = f"{pack.pack_id}/{ref}"
        try:
            digest, component = self.cache.load(wasm, label)
        except wasmtime.WasmtimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
            raise self._load_error(
                pack, ref, f"{spec.wasm_path} is not a valid WebAssembly component: {first}"
            ) from exc
        with self._lock:
            known = self._by_digest.get(digest)
        if known is not None:
            return known
        try:
            world_plan = plan(component, self.engine)
        except WorldError as exc:
            raise self._load_error(pack, ref, str(exc)) from exc
        loaded = LoadedComponent(digest, component, world_plan)
        with self._lock:
            self._by_digest.setdefault(digest, loaded)
        return loaded

    # -- calls ---------------------------------------------------------------------------------

    def _scope(
        self,
        pack: PackRuntime,
        ctx: ExecCtx,
        ref: str,
        operation: str,
        policy: ComponentPolicy,
    ) -> CallScope:
        if not self.running:
            raise ComponentCallError(
                f"component {ref} (tenant {ctx.tenant}, pack {pack.pack_id}) cannot run: "
                "the WasmInvoker is not started (use `async with WasmInvoker(...)`)",
                kind="load",
                tenant=ctx.tenant,
                pack=pack.pack_id,
                component=ref,
                operation=operation,
            )
        return CallScope(
            ctx=ctx,
            pack=pack,
            component_ref=ref,
            operation=operation,
            policy=policy,
            services=self.services,
            limits=self.limits,
            loop=asyncio.get_running_loop(),
            deadline=time.monotonic() + self.limits.timeout_ms / 1000,
        )

    async def _run(
        self,
        loaded: LoadedComponent,
        scope: CallScope,
        body: Callable[[wasmtime.Store, Any], T],
    ) -> T:
        return await self._workers.run(self._sandbox.run, loaded, scope, body)

    def _missing(
        self, pack: PackRuntime, loaded: LoadedComponent, ref: str, what: str, ctx: ExecCtx
    ) -> ComponentCallError:
        return ComponentCallError(
            f"component {ref} of pack {pack.pack_id} (tenant {ctx.tenant}) does not export "
            f"{what}; it exports: {loaded.plan.exports_text()}",
            kind="load",
            tenant=ctx.tenant,
            pack=pack.pack_id,
            component=ref,
        )

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        """Run ``call.operation`` of a node component; returns JSON (see invoker.py)."""
        loaded = await self.load(pack, call.component_ref)
        adapter = loaded.plan.node
        if adapter is None:
            raise self._missing(pack, loaded, call.component_ref, "a node world", call.ctx)
        policy = self.services.policy(call.ctx, pack)
        scope = self._scope(pack, call.ctx, call.component_ref, call.operation, policy)
        return await self._run(loaded, scope, lambda store, inst: adapter.invoke(store, inst, call))

    async def invoke_provider(
        self, pack: PackRuntime, binding: ProviderBinding, op: str, input: bytes, ctx: ExecCtx
    ) -> Any:
        """schema-core ``invoke(op, input)``; the output must be JSON."""
        loaded = await self.load(pack, binding.component_ref)
        adapter = loaded.plan.provider
        if adapter is None:
            raise self._missing(
                pack, loaded, binding.component_ref, "provider schema-core@1.0.0", ctx
            )
        policy = self.services.policy(ctx, pack)
        scope = self._scope(pack, ctx, binding.component_ref, op, policy)
        return await self._run(
            loaded, scope, lambda store, inst: adapter.invoke(store, inst, op, bytes(input))
        )

    async def identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding, payload: bytes
    ) -> IdentifyOutcome:
        """The identify probe, under the locked-down probe policy. Unsupported without export."""
        loaded = await self.load(pack, binding.component_ref)
        adapter = loaded.plan.identify
        if adapter is None:
            return UNSUPPORTED
        ctx = ExecCtx(tenant=PROBE_TENANT, provider_id=binding.provider_id)
        scope = self._scope(
            pack, ctx, binding.component_ref, "identify-instance", ComponentPolicy.probe()
        )
        return await self._run(
            loaded, scope, lambda store, inst: adapter.identify(store, inst, bytes(payload))
        )

    async def describe_identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding
    ) -> IdentifyHint | None:
        """The component's identify hint; None when missing, malformed or failing (cached)."""
        memo = self._memo(pack)
        ref = binding.component_ref
        if ref in memo.hints:
            return memo.hints[ref]
        hint: IdentifyHint | None = None
        try:
            loaded = await self.load(pack, ref)
            adapter = loaded.plan.describe_identify
            if adapter is not None:
                ctx = ExecCtx(tenant=PROBE_TENANT, provider_id=binding.provider_id)
                scope = self._scope(
                    pack, ctx, ref, "describe-identify-instance", ComponentPolicy.probe()
                )
                label = f"{pack.pack_id}/{ref}"
                hint = await self._run(
                    loaded, scope, lambda store, inst: adapter.describe(store, inst, label)
                )
        except ComponentCallError as exc:
            log.warning("describe-identify-instance probe failed: %s", exc)
        memo.hints[ref] = hint
        return hint

"""Running the HTTP server for a :class:`~greentic_runner.server_config.ServePlan`.

One process (``workers == 1``): :func:`serve` opens the stores, builds and starts the host,
loads every tenant's packs (a failure stops here with the error, before listening), then runs
uvicorn (uvloop + httptools) in the same event loop. SIGINT/SIGTERM stop accepting
connections; uvicorn waits for open requests, the app waits for running turns (bounded by
``shutdown_timeout_secs``), then the host stops and the stores close.

Several workers: uvicorn's process manager starts ``workers`` processes that each build
their own host from the plan (passed in ``GREENTIC_RUNNER_SERVE_PLAN``) during lifespan
startup — see :func:`worker_app`. Use a shared store (SQLite file or Redis) so every worker
sees every conversation. With Redis sessions, dedupe is shared too (``dedupe_redis.py``);
otherwise it is per worker (see ``dedupe.py``).

With ``PACK_INDEX_URL`` set, the pack index is the reload source and a watcher polls it every
``PACK_REFRESH_INTERVAL``; ``/admin/packs/reload`` forces a poll.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.supervisors import Multiprocess

from ..config import HostConfig, load_bindings
from ..errors import ConfigError
from ..host import RunnerHost
from ..reload import PackSource, StaticPackSource, reload_all
from ..runtime_loader import PackRef
from ..secrets import default_manager
from ..server_config import ServePlan
from .app import create_app, shutdown
from .auth import admin_token_from_env, is_loopback
from .context import ServerContext
from .dedupe_redis import shared_dedupe
from .instrument import metered_runtime_factory, metered_session_store, metered_state_store
from .metrics import Metrics
from .settings import ChannelSecrets, HttpSettings
from .turn_routes import RunnerApp

log = logging.getLogger(__name__)

PLAN_ENV = "GREENTIC_RUNNER_SERVE_PLAN"


def tenant_configs(plan: ServePlan) -> dict[str, HostConfig]:
    """Each tenant's bindings (or a default HostConfig); the file must declare that tenant."""
    configs = {}
    for tenant in plan.tenants:
        if tenant.bindings is None:
            configs[tenant.tenant] = HostConfig(tenant=tenant.tenant)
            continue
        config = load_bindings(tenant.bindings)
        if config.tenant != tenant.tenant:
            raise ConfigError(
                f"bindings file {tenant.bindings} declares tenant {config.tenant}, "
                f"but it is configured for tenant {tenant.tenant}"
            )
        configs[tenant.tenant] = config
    return configs


def http_settings(plan: ServePlan, environ: Any = None) -> HttpSettings:
    env = os.environ if environ is None else environ
    return HttpSettings(
        limits=plan.limits,
        routing=plan.routing,
        admin_token=admin_token_from_env(env, plan.admin_token_env),
        secrets=ChannelSecrets.from_env(env),
        dedupe_max_entries=plan.dedupe_max_entries,
        dedupe_ttl_secs=plan.dedupe_ttl_secs,
        shutdown_timeout_secs=plan.shutdown_timeout_secs,
    )


class _RegisteringSource:
    """A pack source that registers a default HostConfig for tenants it introduces (a pack
    index may name tenants that have no bindings file)."""

    def __init__(self, host: RunnerHost, inner: PackSource) -> None:
        self._host = host
        self._inner = inner

    async def resolve(self) -> dict[str, list[PackRef]]:
        plan = await self._inner.resolve()
        for tenant in plan:
            self._host.configs.setdefault(tenant, HostConfig(tenant=tenant))
        return plan


@dataclass(slots=True)
class Server:
    """An opened server: the host (started, packs loaded) and its ASGI app."""

    host: RunnerHost
    app: RunnerApp
    plan: ServePlan

    @property
    def context(self) -> ServerContext:
        return self.app.ctx


async def open_server(plan: ServePlan, stack: AsyncExitStack) -> Server:
    """Open stores, build and start the host, load every tenant, build the app.

    Everything opened is closed by ``stack``. Raises RunnerError (ConfigError, PackError,
    StoreError…) naming what failed; nothing is left running then."""
    from ..pack_index import IndexPackSource, IndexSettings
    from ..pack_watcher import PackIndexWatcher
    from ..storage.config import StorageConfig, open_stores

    metrics = Metrics()
    configs = tenant_configs(plan)
    index = IndexSettings.from_env()
    storage = StorageConfig.from_url(plan.store) if plan.store else StorageConfig.from_env()
    stores = await open_stores(storage)
    stack.push_async_callback(stores.close)
    host = RunnerHost(
        configs=configs,
        session_store=metered_session_store(stores.session, metrics),
        state_store=metered_state_store(stores.state, metrics),
        secrets=default_manager(),
        runtime_factory=metered_runtime_factory(metrics),
    )
    await host.start()
    stack.push_async_callback(host.stop)
    reloader: Callable[[], Awaitable[Any]] | None = None
    lock = asyncio.Lock()
    if index is not None:
        source: PackSource = _RegisteringSource(
            host, IndexPackSource(index.index_url, cache_dir=index.cache_dir)
        )
        watcher = PackIndexWatcher(host, source, interval=index.refresh_interval, lock=lock)
        await stack.enter_async_context(watcher)
        reloader = watcher.reload
    else:
        source = StaticPackSource(
            {t.tenant: [PackRef(path) for path in t.packs] for t in plan.tenants}
        )
        await reload_all(host, source, log_failure=False)  # startup: the caller reports it
    settings = http_settings(plan)
    # Scale-out: with sessions in Redis, redeliveries are deduped across every replica.
    dedupe = shared_dedupe(stores, ttl_secs=settings.dedupe_ttl_secs)
    if dedupe is not None:
        stack.push_async_callback(dedupe.close)
    app = create_app(
        host, settings, metrics=metrics, dedupe=dedupe, reload_source=source, reloader=reloader
    )
    app.ctx.reload_lock = lock
    unverified = settings.secrets.unverified_channels()
    if unverified and not is_loopback(plan.host):
        log.warning("channel requests are not signature-checked for: %s", ", ".join(unverified))
    return Server(host, app, plan)


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGINT/SIGTERM only start the graceful shutdown.

    Stock uvicorn re-raises the captured signal after shutting down, which kills the
    process before ``serve``'s cleanup (host stop, store close) runs; here the signal just
    ends ``serve`` normally (a second signal forces the exit, as in uvicorn)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        handled = (signal.SIGINT, signal.SIGTERM)
        for sig in handled:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)


def _uvicorn_config(app: Any, plan: ServePlan, **extra: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=plan.host,
        port=plan.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=math.ceil(plan.shutdown_timeout_secs) or None,
        **extra,
    )


async def serve(plan: ServePlan, *, ready: Callable[[], None] | None = None) -> None:
    """Serve ``plan`` in this process until SIGINT/SIGTERM (``workers`` must be 1)."""
    from ..telemetry import configure_telemetry

    async with AsyncExitStack() as stack:
        telemetry = configure_telemetry()
        if telemetry is not None:
            stack.callback(telemetry.shutdown)
        server = await open_server(plan, stack)
        if ready is not None:
            ready()
        config = _uvicorn_config(server.app, plan)
        log.info(
            "serving %d tenant(s) on http://%s:%d",
            len(plan.tenants),
            plan.host,
            plan.port,
        )
        await _Server(config).serve()


async def check(plan: ServePlan) -> None:
    """Open and close everything once (the parent's check before forking workers)."""
    async with AsyncExitStack() as stack:
        await open_server(plan, stack)


def run(plan: ServePlan, *, ready: Callable[[], None] | None = None) -> None:
    """Blocking entry point of ``greentic-runner serve``. Raises RunnerError at startup."""
    import uvloop

    if plan.workers == 1:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(plan, ready=ready))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(check(plan))
    if ready is not None:
        ready()
    os.environ[PLAN_ENV] = plan.to_json()
    config = _uvicorn_config(
        "greentic_runner.http.server:worker_app", plan, factory=True, workers=plan.workers
    )
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


class _WorkerApp:
    """ASGI app of one worker process: builds the host during lifespan startup."""

    def __init__(self, plan: ServePlan) -> None:
        self.plan = plan
        self.server: Server | None = None
        self._stack = AsyncExitStack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.server is not None, "requests arrive only after lifespan startup"
        app: ASGIApp = self.server.app
        await app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.server = await open_server(self.plan, self._stack)
                except Exception as exc:
                    log.error("worker startup failed: %s", exc)
                    await self._stack.aclose()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.server is not None:
                    await shutdown(self.server.context)
                await self._stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def worker_app() -> ASGIApp:
    """uvicorn factory for worker processes (reads the plan from ``GREENTIC_RUNNER_SERVE_PLAN``)."""
    raw = os.environ.get(PLAN_ENV)
    if not raw:
        raise ConfigError(f"{PLAN_ENV} is not set; start workers with `greentic-runner serve`")
    return _WorkerApp(ServePlan.from_json(raw))

"""Which stores the runner keeps sessions and state in (spec §6.5), and opening them.

Sources: the environment (:meth:`StorageConfig.from_env`) or the CLI's ``--store`` URL
(:meth:`StorageConfig.from_url`). A durable backend that cannot be honoured is refused with
a :class:`~greentic_runner.errors.ConfigError`; there is never a silent fallback to memory.
Unlike the reference (memory unless named), the runner's default is the SQLite file
``./.greentic/runner.db``, so a paused conversation survives a restart out of the box.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ConfigError, StoreError
from ..tenancy import TenantCtx
from .locks import DEFAULT_LEASE_SECS, LeasePolicy
from .redis import RedisStateStore
from .redis import connect as redis_connect
from .redis_session import RedisSessionStore
from .session import InMemorySessionStore, SessionStore
from .sqlite import DEFAULT_SQLITE_PATH, SqliteDatabase
from .sqlite_session import SqliteSessionStore
from .sqlite_state import SqliteStateStore
from .state import InMemoryStateStore, StateStore

Backend = Literal["memory", "sqlite", "redis"]
BACKENDS: tuple[Backend, ...] = ("memory", "sqlite", "redis")

ENV_SESSION_BACKEND = "GREENTIC_RUNNER_SESSION_BACKEND"
ENV_STATE_BACKEND = "GREENTIC_RUNNER_STATE_BACKEND"
ENV_REDIS_URL = "GREENTIC_RUNNER_REDIS_URL"
ENV_SESSION_NAMESPACE = "GREENTIC_RUNNER_SESSION_NAMESPACE"
ENV_SQLITE_PATH = "GREENTIC_RUNNER_SQLITE_PATH"
ENV_GREENTIC_ENV = "GREENTIC_ENV"
ENV_TURN_LEASE_SECS = "GREENTIC_RUNNER_TURN_LEASE_SECS"

PROBE_SESSION_KEY = "greentic-runner-host::startup-probe"
PROBE_STATE_CTX = TenantCtx(env="local", tenant="greenticprobe")


def _missing_url(store: str) -> ConfigError:
    return ConfigError(
        f"{store} backend 'redis' was requested but no Redis URL was supplied "
        f"(set {ENV_REDIS_URL}); refusing to start rather than fall back to another backend"
    )


def _missing_namespace() -> ConfigError:
    return ConfigError(
        "session backend 'redis' was requested but no keyspace could be resolved: set "
        f"{ENV_SESSION_NAMESPACE}, or {ENV_GREENTIC_ENV} to derive 'greentic:session:<env>'"
    )


def _named(value: str | None) -> str | None:
    """Trimmed value; empty means unset."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _backend(store: str, value: str | None, default: Backend) -> Backend:
    named = _named(value)
    if named is None:
        return default
    if named not in BACKENDS:
        raise ConfigError(
            f"unknown {store} backend '{named}' (expected 'memory', 'sqlite' or 'redis')"
        )
    return named


def _lease_secs(env: Mapping[str, str]) -> float:
    """``GREENTIC_RUNNER_TURN_LEASE_SECS``: how long a crashed holder can block a turn."""
    raw = _named(env.get(ENV_TURN_LEASE_SECS))
    if raw is None:
        return DEFAULT_LEASE_SECS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 1.0 <= value <= 3600.0:
        raise ConfigError(f"{ENV_TURN_LEASE_SECS} must be a number of seconds from 1 to 3600")
    return value


def namespace_for_env(env: str | None) -> str:
    """``greentic:session:<env>``; raises :class:`ConfigError` when ``env`` is unset."""
    named = _named(env)
    if named is None:
        raise _missing_namespace()
    return f"greentic:session:{named}"


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Validated backend choice for the session and state stores.

    ``redis_url`` is kept out of ``repr`` and :meth:`describe`: it may carry a password.
    Raises :class:`ConfigError` when a Redis backend lacks its URL or (sessions) namespace.
    """

    session_backend: Backend = "sqlite"
    state_backend: Backend = "sqlite"
    redis_url: str | None = field(default=None, repr=False)
    session_namespace: str | None = None
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    turn_lease_secs: float = DEFAULT_LEASE_SECS  # SQLite and Redis turn-lock leases

    def __post_init__(self) -> None:
        for store, backend in (("session", self.session_backend), ("state", self.state_backend)):
            _backend(store, backend, "memory")
            if backend == "redis" and _named(self.redis_url) is None:
                raise _missing_url(store)
        if self.session_backend == "redis" and _named(self.session_namespace) is None:
            raise _missing_namespace()

    @classmethod
    def memory(cls) -> StorageConfig:
        """Both stores in process memory (tests, throwaway runs)."""
        return cls("memory", "memory")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_backend: Backend = "sqlite"
    ) -> StorageConfig:
        """Read ``GREENTIC_RUNNER_*`` (spec §6.5) from ``environ`` (default ``os.environ``).

        An unnamed backend is ``default_backend`` (SQLite for the CLI and server), never Redis
        just because a URL is present.
        """
        env = os.environ if environ is None else environ
        session = _backend("session", env.get(ENV_SESSION_BACKEND), default_backend)
        state = _backend("state", env.get(ENV_STATE_BACKEND), default_backend)
        url = _named(env.get(ENV_REDIS_URL))
        namespace = None
        if session == "redis":
            if url is None:
                raise _missing_url("session")
            namespace = _named(env.get(ENV_SESSION_NAMESPACE)) or namespace_for_env(
                env.get(ENV_GREENTIC_ENV)
            )
        path = _named(env.get(ENV_SQLITE_PATH))
        return cls(
            session_backend=session,
            state_backend=state,
            redis_url=url if "redis" in (session, state) else None,
            session_namespace=namespace,
            sqlite_path=Path(path) if path else DEFAULT_SQLITE_PATH,
            turn_lease_secs=_lease_secs(env),
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        environ: Mapping[str, str] | None = None,
        *,
        namespace: str | None = None,
    ) -> StorageConfig:
        """Parse the CLI's ``--store``: ``memory``, ``sqlite:PATH`` or ``redis://HOST:PORT/DB``.

        Both stores use the named backend. For Redis the session namespace is ``namespace``,
        else ``GREENTIC_RUNNER_SESSION_NAMESPACE``, else derived from ``GREENTIC_ENV``.
        """
        env = os.environ if environ is None else environ
        text = url.strip()
        if text == "memory":
            return cls.memory()
        if text.startswith("sqlite:"):
            path = text.removeprefix("sqlite:")
            path = path.removeprefix("//")  # sqlite:///abs/path is the URL spelling of /abs/path
            if not path:
                raise ConfigError("--store sqlite: needs a path, e.g. sqlite:.greentic/runner.db")
            return cls("sqlite", "sqlite", sqlite_path=Path(path), turn_lease_secs=_lease_secs(env))
        if text.startswith(("redis://", "rediss://")):
            ns = (
                _named(namespace)
                or _named(env.get(ENV_SESSION_NAMESPACE))
                or namespace_for_env(env.get(ENV_GREENTIC_ENV))
            )
            return cls(
                "redis",
                "redis",
                redis_url=text,
                session_namespace=ns,
                turn_lease_secs=_lease_secs(env),
            )
        scheme = text.split(":", 1)[0] if ":" in text else text
        raise ConfigError(
            f"unknown store '{scheme}' (expected 'memory', 'sqlite:PATH' or 'redis://HOST:PORT/DB')"
        )

    def describe(self) -> str:
        """A log-safe one-liner; never includes the Redis URL."""
        return f"session: {self._describe(self.session_backend)}; state: " + self._describe(
            self.state_backend, session=False
        )

    def _describe(self, backend: Backend, *, session: bool = True) -> str:
        if backend == "sqlite":
            return f"sqlite ({self.sqlite_path})"
        if backend == "redis" and session:
            return f"redis (namespace '{self.session_namespace}')"
        return "redis" if backend == "redis" else "in-memory"

    @property
    def is_durable(self) -> bool:
        """True unless both stores live in process memory."""
        return (self.session_backend, self.state_backend) != ("memory", "memory")


@dataclass(slots=True)
class Stores:
    """The opened session and state stores, and the shared resources behind them."""

    session: SessionStore
    state: StateStore
    config: StorageConfig
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    async def close(self) -> None:
        """Close both stores and their shared database/client. Idempotent."""
        closers, self._closers = self._closers, []
        for close in closers:
            await close()

    async def __aenter__(self) -> Stores:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


async def open_stores(config: StorageConfig, clock: Clock = SYSTEM_CLOCK) -> Stores:
    """Open the configured stores; Redis ones are probed before they are handed out.

    Both stores share one SQLite database and one Redis client when they use the same backend.
    Raises :class:`StoreError` ("… is unreachable") when a Redis store does not answer, or when
    the SQLite file cannot be opened; nothing is left open on failure.
    """
    closers: list[Callable[[], Awaitable[None]]] = []
    lease = LeasePolicy(lease_secs=config.turn_lease_secs)
    try:
        db = client = None
        if "sqlite" in (config.session_backend, config.state_backend):
            db = await SqliteDatabase.open(config.sqlite_path)
            closers.append(db.close)
        if "redis" in (config.session_backend, config.state_backend):
            client = redis_connect(cast(str, config.redis_url))
            closers.append(client.aclose)
        session: SessionStore
        state: StateStore
        if config.session_backend == "sqlite" and db is not None:
            session = SqliteSessionStore(db, clock, lease=lease)
        elif config.session_backend == "redis" and client is not None:
            session = RedisSessionStore(client, cast(str, config.session_namespace), lease=lease)
            await _probe(config, "session", session.get_session(PROBE_SESSION_KEY))
        else:
            session = InMemorySessionStore(clock)
        if config.state_backend == "sqlite" and db is not None:
            state = SqliteStateStore(db, clock)
        elif config.state_backend == "redis" and client is not None:
            state = RedisStateStore(client)
            await _probe(
                config, "state", state.get_json(PROBE_STATE_CTX, "runner", "startup-probe")
            )
        else:
            state = InMemoryStateStore(clock)
    except BaseException:
        for close in reversed(closers):
            await close()
        raise
    return Stores(session, state, config, list(reversed(closers)))


async def _probe(config: StorageConfig, store: str, probe: Awaitable[object]) -> None:
    try:
        await probe
    except StoreError as exc:
        message = str(exc)
        if config.redis_url:
            # Belt and braces: a server error must not leak the URL (and its password).
            message = message.replace(config.redis_url, "<redis url>")
        raise StoreError(f"{store} store redis is unreachable: {message}") from exc

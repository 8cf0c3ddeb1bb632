"""The per-call scope host imports act in: who is calling, under which policy, until when.

Host functions are registered once per process on a shared linker; the call they belong to is
found through a thread-local, because wasmtime runs a host function synchronously on the
thread that called into the guest (see :mod:`.hostfunc`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..errors import ComponentError
from ..tenancy import TenantCtx
from .invoker import ExecCtx
from .policy import ComponentLimits, ComponentPolicy

if TYPE_CHECKING:
    from ..packs.pack import PackRuntime
    from ..storage.state import StateStore

T = TypeVar("T")


class SecretsLookup(Protocol):
    """The host's secrets backend (``secrets.SecretsManager`` satisfies it)."""

    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None: ...


RuntimeConfigLookup = Callable[["PackRuntime", str], bytes | None]


@dataclass(frozen=True, slots=True)
class HostServices:
    """What the host lends to components; every part is optional (absent = unavailable).

    ``policy_for`` picks the tenant's :class:`ComponentPolicy` for a call; the default denies
    network, secrets and stdio but allows the pack-scoped state store and runtime config.
    """

    secrets: SecretsLookup | None = None
    state: StateStore | None = None
    runtime_config: RuntimeConfigLookup | None = None
    policy_for: Callable[[ExecCtx, PackRuntime], ComponentPolicy] | None = None

    def policy(self, ctx: ExecCtx, pack: PackRuntime) -> ComponentPolicy:
        return ComponentPolicy() if self.policy_for is None else self.policy_for(ctx, pack)


@dataclass(slots=True)
class CallScope:
    """One invocation: identity, policy, deadline, and what the host refused along the way."""

    ctx: ExecCtx
    pack: PackRuntime
    component_ref: str
    operation: str
    policy: ComponentPolicy
    services: HostServices
    limits: ComponentLimits
    loop: asyncio.AbstractEventLoop | None
    deadline: float  # time.monotonic() value
    denials: list[str] = field(default_factory=list)

    @property
    def pack_id(self) -> str:
        return self.pack.pack_id

    def tenant_ctx(self) -> TenantCtx:
        """The store scope: env + tenant of the call (a guest-supplied ctx is ignored)."""
        return TenantCtx(env=self.ctx.env, tenant=self.ctx.tenant)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def should_cancel(self) -> bool:
        """True once the call's wall-clock budget or the caller's deadline has passed."""
        if time.monotonic() >= self.deadline:
            return True
        wanted = self.ctx.deadline_unix_ms
        return wanted is not None and time.time() * 1000 >= wanted

    def deny(self, what: str) -> str:
        message = (
            f"{what} denied by policy (tenant {self.ctx.tenant}, pack {self.pack_id}, "
            f"component {self.component_ref})"
        )
        self.denials.append(message)
        return message

    def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        """Run an async host service from the wasm thread, bounded by the call's deadline."""
        if self.loop is None:
            return asyncio.run(_awaited(factory))
        future = asyncio.run_coroutine_threadsafe(_awaited(factory), self.loop)
        try:
            return future.result(timeout=max(self.remaining(), 0.001))
        except TimeoutError:
            future.cancel()
            raise ComponentError(
                f"host service timed out in component {self.component_ref} "
                f"(tenant {self.ctx.tenant}, pack {self.pack_id})"
            ) from None


async def _awaited(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


_LOCAL = threading.local()


@contextmanager
def active(scope: CallScope) -> Iterator[CallScope]:
    """Make ``scope`` the current one for host functions on this thread."""
    previous = getattr(_LOCAL, "scope", None)
    _LOCAL.scope = scope
    try:
        yield scope
    finally:
        _LOCAL.scope = previous


def current() -> CallScope:
    scope: CallScope | None = getattr(_LOCAL, "scope", None)
    if scope is None:
        raise ComponentError("host import called outside a component invocation")
    return scope

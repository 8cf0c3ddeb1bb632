"""Child process for the durability tests: write a wait and state, hold a turn lock, then
report READY and wait to be killed. Usage: ``durable_child.py sqlite PATH TENANT`` or
``durable_child.py redis URL TENANT NAMESPACE``."""

from __future__ import annotations

import asyncio
import sys

from tests.storage.storage_helpers import ctx, data, scope

from greentic_runner.storage import (
    LeasePolicy,
    RedisSessionStore,
    RedisStateStore,
    SessionStore,
    SqliteSessionStore,
    SqliteStateStore,
    StateStore,
)


async def main(backend: str, target: str, tenant: str, namespace: str = "") -> None:
    sessions: SessionStore
    states: StateStore
    if backend == "sqlite":
        sessions = await SqliteSessionStore.open(target)
        states = await SqliteStateStore.open(target)
    else:
        sessions = RedisSessionStore.from_url(target, namespace, lease=LeasePolicy(lease_secs=0.3))
        states = RedisStateStore.from_url(target)
    await sessions.register_wait(
        ctx(tenant), "u1", scope(), "paused", data(tenant, node="ask", context='{"turn": 1}')
    )
    await states.set_json(ctx(tenant), "runner", "progress", {"turn": 1})
    async with sessions.turn_lock("conv"):
        print("READY", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))

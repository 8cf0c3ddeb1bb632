"""A bindings timer firing every second on two processes that share Redis: every fire time
runs once, on whichever process claims it first (``timers.claim_fire``).

The timer flow writes one state key per fire time (``fired:<fire time>``). Each process
counts the state writes it made in ``/metrics``; with a fire run twice the processes'
writes would outnumber the keys for good, so the test waits for a moment where the keys
(read before and after) equal the writes. Both processes must also have tried to claim.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.scale.cluster import SCALE_PACK, Cluster, cluster, eventually
from tests.storage.storage_helpers import RedisServer

from greentic_runner.storage.redis import Client, connect

pytestmark = [pytest.mark.slow, pytest.mark.redis]

FIRES = 4
SCHEDULE = "every-second"
OPS = "greentic_store_operation_duration_seconds_count"


async def fired(redis: Client, tenant: str) -> dict[str, Any]:
    """``{fire time: schedule id}`` from the timer flow's state keys (timer turns run in the
    cluster's ``GREENTIC_ENV``, like every other turn)."""
    found = {}
    async for key in redis.scan_iter(match=f"greentic:state:*:{tenant}:*"):
        text = key.decode()
        if ":fired:" in text:
            value = await redis.get(key)
            found[text.split(":fired:", 1)[1]] = orjson.loads(value) if value else None
    return found


def state_writes(running: Cluster) -> float:
    return running.total_all(OPS, store="state", operation="set_json", outcome="ok")


def claims(running: Cluster, index: int) -> float:
    return running.total(index, OPS, store="session", operation="register_wait_if_absent")


async def test_a_per_second_timer_fires_once_across_processes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    tenant = f"tick-{uuid.uuid4().hex[:8]}"
    bindings = tmp_path / "bindings.yaml"
    bindings.write_text(
        f"tenant: {tenant}\n"
        f"timers:\n  - flow_id: tick\n    cron: '* * * * * *'\n    schedule_id: {SCHEDULE}\n"
    )
    args = ["--pack", f"{tenant}={SCALE_PACK}", "--bindings", str(bindings)]
    redis = connect(redis_server.url)
    try:
        with cluster(redis_server, tmp_path, args) as running:

            async def settled() -> tuple[dict[str, Any], float] | None:
                before = await fired(redis, tenant)
                writes = state_writes(running)
                after = await fired(redis, tenant)
                if len(after) >= FIRES and before == after and writes == len(after):
                    return after, writes
                return None

            keys, _ = await eventually(settled, f"{FIRES} fires, each written once")
            assert set(keys.values()) == {SCHEDULE}
            attempts = [claims(running, 0), claims(running, 1)]
            assert all(attempts), attempts  # both processes compete for the fires...
            assert sum(attempts) > state_writes(running)  # ...and some claims were lost
    finally:
        await redis.aclose()

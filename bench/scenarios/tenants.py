"""``tenants-10k``: dispatch latency and memory with N small tenants loaded vs 1 tenant.

One process holds two hosts: one with N tenants (each with its own config and its own load
of the echo pack through the public host API, as a server with that many tenants would)
and one with a single tenant. Rounds of echo turns alternate between them, the order
swapped every pair; on the N side a stride walks through the tenants, so no tenant's
runtime stays hot in a cache. The ratio is the median over pairs of the two rounds' time per
turn: both rounds of a pair run seconds apart in one process, so a neighbour's load on the
shared machine (which swings separate processes' figures by ±20 % here) moves both. Memory
is the resident-set growth of loading the N tenants, per tenant (tracemalloc would slow
10,000 loads several-fold and misses the native memory of wasmtime objects).
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder, RunnerHost

from .. import scripts
from ..common import rss_bytes
from .turns import PACKS, activity, check_replies


def tenant_name(index: int) -> str:
    return f"tenant{index:05d}"


def round_inputs(tenants: int, turns: int, first: int) -> list[tuple[str, Activity]]:
    """A round's (tenant, activity) pairs, built before the clock starts. A prime stride
    visits tenants in a scattered order; new conversations every round (with one tenant
    too: a returning contact is cheaper, and that is not what this scenario compares)."""
    return [
        (
            tenant_name(((first + i) * 7919) % tenants),
            activity(f"user-{first + i}", f"conv-{first + i}", scripts.echo_text(i)),
        )
        for i in range(turns)
    ]


async def dispatch(host: RunnerHost, inputs: list[tuple[str, Activity]]) -> list[list[Activity]]:
    return [await host.handle_activity(tenant, message) for tenant, message in inputs]


def check_round(replies: list[list[Activity]]) -> None:
    for index, reply in enumerate(replies):
        check_replies(reply, scripts.echo_reply(index), False, f"tenant turn {index}")


async def loaded_host(count: int) -> RunnerHost:
    builder = HostBuilder()
    for index in range(count):
        builder.with_config(HostConfig(tenant=tenant_name(index)))
    host = builder.build()
    await host.start()
    for index in range(count):
        await host.load_pack(tenant_name(index), PACKS / "echo")
    return host


async def tenants_job(params: dict[str, Any]) -> dict[str, Any]:
    count = int(params["tenants"])
    if count < 2:
        raise ValueError("tenants-10k compares N > 1 tenants with one")
    turns, pairs = int(params.get("turns", 1000)), int(params.get("pairs", 24))
    one = await loaded_host(1)
    gc.collect()
    rss_before = rss_bytes()
    started = time.perf_counter()
    many = await loaded_host(count)
    load_seconds = time.perf_counter() - started
    gc.collect()
    rss_after = rss_bytes()
    sides = {1: one, count: many}
    latency: dict[int, list[float]] = {1: [], count: []}
    for pair in range(pairs + 1):  # pair 0 warms up
        for tenants in (1, count) if pair % 2 == 0 else (count, 1):
            inputs = round_inputs(tenants, turns, first=pair * turns)
            gc.collect()  # one round's garbage is not collected on the next one's clock
            started = time.perf_counter()
            replies = await dispatch(sides[tenants], inputs)
            elapsed = time.perf_counter() - started
            check_round(replies)
            if pair:
                latency[tenants].append(elapsed * 1e6 / turns)
    for host in sides.values():
        await host.stop()
    return {
        "tenants": count,
        "dispatch_us_1": statistics.median(latency[1]),
        "dispatch_us_many": statistics.median(latency[count]),
        "ratio": paired_ratio(latency[count], latency[1]),
        "pairs": pairs,
        "load_s": load_seconds,
        "load_ms_per_tenant": load_seconds * 1000 / count,
        "rss_bytes_per_tenant": (rss_after - rss_before) / count,
    }


def paired_ratio(many: list[float], one: list[float]) -> float:
    """The median over pairs of ``many[i] / one[i]`` (see the module docstring)."""
    return statistics.median(m / o for m, o in zip(many, one, strict=True))


JOBS = {"tenants": tenants_job}

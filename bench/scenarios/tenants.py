"""``tenants-10k``: dispatch latency and memory with N small tenants loaded (N = 1 or 10,000).

Every tenant gets its own config and its own load of the echo pack through the public host
API, as a server with that many tenants would. Then rounds of echo turns are spread over
all tenants (a stride walks through them, so no tenant's runtime stays hot in a cache) and
the median time per turn is the dispatch latency. Memory is the resident-set growth of the
loading, per tenant (tracemalloc would slow 10,000 loads several-fold and misses the
native memory of wasmtime objects).
"""

from __future__ import annotations

import gc
import time
from typing import Any

from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder, RunnerHost

from .. import scripts
from ..common import rss_bytes, summary, timed_rounds
from .turns import PACKS, activity, check_replies


def tenant_name(index: int) -> str:
    return f"tenant{index:05d}"


async def dispatch_round(host: RunnerHost, tenants: int, turns: int, offset: list[int]) -> int:
    # A prime stride visits tenants in a scattered order; new conversations every round
    # (with one tenant too: a returning contact is cheaper, and that is not what this
    # scenario compares).
    first = offset[0]
    picks = [((first + i) * 7919) % tenants for i in range(turns)]
    offset[0] += turns
    texts = [scripts.echo_text(i) for i in range(turns)]
    replies = [
        await host.handle_activity(
            tenant_name(t), activity(f"user-{first + i}", f"conv-{first + i}", text)
        )
        for i, (t, text) in enumerate(zip(picks, texts, strict=True))
    ]
    for index, reply in enumerate(replies):
        check_replies(reply, scripts.echo_reply(index), False, f"tenant turn {index}")
    return turns


async def tenants_job(params: dict[str, Any]) -> dict[str, Any]:
    count = int(params["tenants"])
    builder = HostBuilder()
    for index in range(count):
        builder.with_config(HostConfig(tenant=tenant_name(index)))
    host = builder.build()
    await host.start()
    gc.collect()
    rss_before = rss_bytes()
    started = time.perf_counter()
    for index in range(count):
        await host.load_pack(tenant_name(index), PACKS / "echo")
    load_seconds = time.perf_counter() - started
    gc.collect()
    rss_after = rss_bytes()
    offset = [0]
    rates = await timed_rounds(
        lambda: dispatch_round(host, count, int(params.get("turns", 2000)), offset),
        warmup=int(params.get("warmup", 1)),
        rounds=int(params.get("rounds", 5)),
    )
    await host.stop()
    stats = summary(rates)
    return {
        "tenants": count,
        "turns_per_s": stats,
        "dispatch_us": 1e6 / stats["median"],
        "load_s": load_seconds,
        "load_ms_per_tenant": load_seconds * 1000 / count,
        "rss_bytes_per_tenant": (rss_after - rss_before) / count,
    }


JOBS = {"tenants": tenants_job}

"""``pack-load``: time from nothing to a pack's first reply, cold and cached.

A rep builds a fresh host and a fresh :class:`WasmInvoker` (so no in-memory cache
survives), loads the pack and runs one turn whose node calls the pack's large component.
Cold: an empty compiled-artifact cache directory, so the component is compiled. Cached:
the directory a cold rep filled, so the compiled artifact is deserialized. The pack-only
figure (``pack.yaml`` + flows, no component) is reported next to them.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from greentic_runner.components.wasm import WasmInvoker
from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder
from greentic_runner.packs.loader import load_pack

from ..common import summary
from .turns import TENANT, activity, check_replies

TEXT = "hi"


async def first_reply_seconds(pack: Path, cache_dir: Path) -> float:
    started = time.perf_counter()
    async with WasmInvoker(cache_dir=cache_dir) as invoker:
        host = (
            HostBuilder()
            .with_config(HostConfig(tenant=TENANT))
            .with_component_invoker(invoker)
            .build()
        )
        await host.start()
        await host.load_pack(TENANT, pack)
        replies = await host.handle_activity(TENANT, activity("user-0", "conv-0", TEXT))
        elapsed = time.perf_counter() - started
        await host.stop()
    check_replies(replies, f"You said: {TEXT}", False, "pack-load first reply")
    return elapsed


def pack_only_ms(pack: Path, reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        load_pack(pack)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def pack_load(params: dict[str, Any]) -> dict[str, Any]:
    pack = Path(params["pack"])
    with tempfile.TemporaryDirectory(prefix="greentic-bench-cache-") as tmp:
        root = Path(tmp)
        cold = [
            await first_reply_seconds(pack, root / f"cold-{rep}")
            for rep in range(int(params.get("cold", 3)))
        ]
        warm_dir = root / "cold-0"
        await first_reply_seconds(pack, warm_dir)  # warm-up of the cached path
        cached = [
            await first_reply_seconds(pack, warm_dir) for _ in range(int(params.get("cached", 5)))
        ]
    wasm = sum(p.stat().st_size for p in (pack / "components").glob("*.wasm"))
    return {
        "cold_ms": summary([s * 1000 for s in cold]),
        "cached_ms": summary([s * 1000 for s in cached]),
        "pack_only_ms": pack_only_ms(pack, 20),
        "component_bytes": wasm,
    }


JOBS = {"pack-load": pack_load}

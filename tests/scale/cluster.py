"""Several ``greentic-runner serve`` processes on loopback sharing one private redis-server.

Each process is started with :func:`tests.http.serving.serve` (free port, waits for
``/healthz``). A cluster gets its own ``GREENTIC_ENV`` (hence its own session namespace
``greentic:session:<env>`` and state keys), so clusters on the session's one Redis never
see each other's conversations.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.http.serving import Served, clean_env, serve
from tests.storage.storage_helpers import RedisServer

FIXTURES = Path(__file__).parent / "fixtures"
SCALE_PACK = FIXTURES / "scale-pack"
EXAMPLES = Path(__file__).parents[2] / "examples"
DEADLINE_SECS = 20.0


@dataclass
class Cluster:
    """The running processes; ``urls[i]`` is process ``i``'s base URL."""

    processes: list[Served]
    env: str
    redis_url: str
    stopped: set[int] = field(default_factory=set)

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.processes]

    @property
    def namespace(self) -> str:
        return f"greentic:session:{self.env}"

    def kill(self, index: int) -> None:
        """SIGKILL process ``index`` (no shutdown, no cleanup) and reap it."""
        process = self.processes[index].process
        process.kill()
        process.wait(timeout=10)
        self.stopped.add(index)

    def metrics(self, index: int) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Process ``index``'s ``/metrics`` samples by sample name."""
        text = httpx.get(self.urls[index] + "/metrics", timeout=10).text
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
        return samples

    def total(self, index: int, name: str, **labels: str) -> float:
        """Sum of process ``index``'s samples called ``name`` whose labels include ``labels``."""
        found = self.metrics(index).get(name, [])
        return sum(v for have, v in found if all(have.get(k) == w for k, w in labels.items()))

    def total_all(self, name: str, **labels: str) -> float:
        """:meth:`total` over every live process."""
        live = [i for i in range(len(self.processes)) if i not in self.stopped]
        return sum(self.total(i, name, **labels) for i in live)


@contextmanager
def cluster(
    redis: RedisServer,
    cwd: Path,
    args: Sequence[str],
    *,
    count: int = 2,
    env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """``count`` serve processes with ``args`` and ``--store <redis>``; stopped on exit."""
    greentic_env = f"scale-{uuid.uuid4().hex[:10]}"
    environ = clean_env(GREENTIC_ENV=greentic_env, **(env or {}))
    with ExitStack() as stack:
        processes = [
            stack.enter_context(serve([*args, "--store", redis.url], cwd=cwd, env=environ))
            for _ in range(count)
        ]
        yield Cluster(processes, greentic_env, redis.url)


# -- talking to it -------------------------------------------------------------------------


def reply_texts(response: httpx.Response) -> list[str]:
    """The message texts of an activities-API answer (a paused turn's ``response`` too)."""
    assert response.status_code == 200, response.text
    texts = []
    for activity in response.json()["activities"]:
        body = activity["payload"]
        body = body.get("response", body) if isinstance(body, dict) else body
        for item in body if isinstance(body, list) else [body]:
            texts.append(item["text"])
    return texts


async def say(
    http: httpx.AsyncClient, base: str, tenant: str, user: str, text: str, conversation: str = "c"
) -> list[str]:
    """One turn through ``POST {base}/tenants/{tenant}/activities``; the reply texts."""
    response = await http.post(
        f"{base}/tenants/{tenant}/activities",
        json={"payload": {"text": text}, "user_id": user, "conversation_id": conversation},
    )
    return reply_texts(response)


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll ``check`` until it returns a truthy value (real processes: nothing to inject)."""
    deadline = time.monotonic() + DEADLINE_SECS
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {DEADLINE_SECS:g}s")
        await asyncio.sleep(0.05)

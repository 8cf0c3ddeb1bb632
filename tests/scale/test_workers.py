"""``serve --workers 2`` on Redis: the worker processes share conversations and dedupe."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from tests.scale.cluster import SCALE_PACK, cluster, reply_texts
from tests.scale.test_dedupe import update
from tests.storage.storage_helpers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]

USERS = 20


def worker_processes(pid: int) -> list[int]:
    """The serve process's uvicorn workers (multiprocessing spawn children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def test_two_workers_share_conversations_and_dedupe_through_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    args = ["--pack", f"demo={SCALE_PACK}", "--workers", "2"]
    with (
        cluster(redis_server, tmp_path, args, count=1) as running,
        # a new connection per request, so the kernel spreads them over both workers
        httpx.Client(
            base_url=running.urls[0],
            timeout=30,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as http,
    ):
        assert len(worker_processes(running.processes[0].process.pid)) == 2

        def turn(user: str, text: str) -> list[str]:
            response = http.post(
                "/tenants/demo/activities",
                json={"payload": {"text": text}, "user_id": user, "conversation_id": "c"},
            )
            return reply_texts(response)

        for n in range(USERS):
            assert turn(f"w{n}", f"hi-{n}") == ["What is your name?"]
        for n in range(USERS):
            assert turn(f"w{n}", f"N{n}") == [f"Hello N{n}, you said hi-{n}"]

        user, first = 8_000_000 + uuid.uuid4().int % 1_000_000, uuid.uuid4().int % 1_000_000_000
        deliveries = [
            http.post("/messaging/telegram/webhook", json=update(first, user, "hi")).json()
            for _ in range(6)
        ]
        assert deliveries[0]["text"] == "What is your name?"
        assert all(d == deliveries[0] for d in deliveries), deliveries
        # One run of "hi": the next update resumes it (a second run would have resumed it).
        answer = http.post("/messaging/telegram/webhook", json=update(first + 1, user, "Ada"))
        assert answer.json()["text"] == "Hello Ada, you said hi"

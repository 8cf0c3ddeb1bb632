"""One idempotency key, one run, whichever processes the deliveries reach: a generic webhook
``Idempotency-Key`` and a Telegram ``update_id`` delivered to two processes (one after the
other, and all at once) run their turn once (RedisDedupe, selected by ``--store redis://``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from tests.scale.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.redis]

COPIES = 3  # concurrent deliveries per process


def turns(cluster: Cluster, channel: str) -> float:
    return cluster.total_all("greentic_turns_total", tenant="demo", channel=channel)


def hits(cluster: Cluster, channel: str) -> float:
    return cluster.total_all("greentic_dedupe_hits_total", channel=channel)


async def test_a_webhook_idempotency_key_runs_once_across_processes(
    shared_cluster: Cluster,
) -> None:
    urls = shared_cluster.urls
    ran, deduped = turns(shared_cluster, "webhook"), hits(shared_cluster, "webhook")
    first, second = f"order-{uuid.uuid4().hex}", f"order-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=30) as http:

        async def deliver(base: str, key: str, order: int) -> httpx.Response:
            return await http.post(
                f"{base}/webhook/hook", json={"order": order}, headers={"Idempotency-Key": key}
            )

        # Delivered to process 0, then redelivered to process 1: the remembered response.
        original = await deliver(urls[0], first, 1)
        repeat = await deliver(urls[1], first, 1)
        assert (original.status_code, original.text) == (201, "ran 1")
        assert (repeat.status_code, repeat.text) == (201, "ran 1")
        # Delivered to both processes at once: one runs, the others are told it is running
        # (409) or get its remembered response.
        racing = await asyncio.gather(*(deliver(urls[i % 2], second, 2) for i in range(2 * COPIES)))
    outcomes = sorted(
        (r.status_code, r.json()["error"]["code"] if r.status_code == 409 else r.text)
        for r in racing
    )
    assert (201, "ran 2") in outcomes, outcomes
    assert set(outcomes) <= {(201, "ran 2"), (409, "idempotency_conflict")}, outcomes
    assert turns(shared_cluster, "webhook") - ran == 2
    assert hits(shared_cluster, "webhook") - deduped == 1 + 2 * COPIES - 1


def update(update_id: int, user: int, text: str) -> dict[str, Any]:
    person = {"id": user, "is_bot": False, "first_name": "Ada"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": person,
            "chat": {**person, "type": "private"},
            "date": 1764160000,
            "text": text,
        },
    }


async def test_a_telegram_update_runs_once_across_processes(shared_cluster: Cluster) -> None:
    """The ask flow parks on the first text and resumes on the next: a second run of any
    update would show as a wrong greeting or a wrong fresh start further on."""
    urls = shared_cluster.urls
    ran, deduped = turns(shared_cluster, "telegram"), hits(shared_cluster, "telegram")
    user = 7_000_000 + uuid.uuid4().int % 1_000_000
    base_id = uuid.uuid4().int % 1_000_000_000
    async with httpx.AsyncClient(timeout=30) as http:

        async def deliver(base: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await http.post(f"{base}/messaging/telegram/webhook", json=body)
            if response.status_code == 503:  # still running elsewhere: Telegram retries later
                assert response.headers["retry-after"] == "5"
                assert response.json()["error"]["code"] == "in_progress"
                return {"retry_later": True}
            assert response.status_code == 200, response.text
            reply: dict[str, Any] = response.json()
            return reply

        hello = update(base_id, user, "hi")
        asked = await deliver(urls[0], hello)
        assert asked["method"] == "sendMessage" and asked["text"] == "What is your name?"
        assert await deliver(urls[1], hello) == asked  # remembered, not run again
        answer = update(base_id + 1, user, "Ada")
        racing = await asyncio.gather(*(deliver(urls[i % 2], answer) for i in range(2 * COPIES)))
        greeted = [r for r in racing if r.get("text") == "Hello Ada, you said hi"]
        later = [r for r in racing if r == {"retry_later": True}]
        assert greeted and len(greeted) + len(later) == 2 * COPIES, racing
        # Had "Ada" run twice, its second run would have parked a new question, which this
        # message would answer; had "hi" run twice, "Ada" would have started afresh.
        again = await deliver(urls[1], update(base_id + 2, user, "again"))
        assert again["text"] == "What is your name?"
    assert turns(shared_cluster, "telegram") - ran == 3
    assert hits(shared_cluster, "telegram") - deduped == 1 + 2 * COPIES - 1

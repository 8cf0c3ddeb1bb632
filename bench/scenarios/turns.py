"""Turns through the public host API: ``turn-echo``, ``turn-ask-name`` (memory, SQLite,
Redis) and the memory each waiting conversation holds.

A round is one pass over every conversation (echo: one turn each; ask-name: every first
turn, so all conversations wait at once, then every second turn). Replies are collected
while the clock runs and checked after it stops; a wrong reply fails the job.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.replies import is_waiting, reply_texts
from greentic_runner.storage.config import StorageConfig, Stores, open_stores

from .. import scripts
from ..common import ROOT, expect, retained_per_item, summary, timed_rounds

TENANT = "bench"
PACKS = ROOT / "bench" / "packs"
CHANNEL = "bench"


def activity(user: str, conversation: str, text: str) -> Activity:
    """What a channel adapter hands the host for one message."""
    return Activity(
        payload={"text": text},
        user_id=user,
        conversation_id=conversation,
        channel_id=CHANNEL,
        provider_id=CHANNEL,
    )


def storage_config(params: dict[str, Any]) -> StorageConfig | None:
    """``store``: memory (None: the builder's in-memory default), sqlite or redis."""
    store = params.get("store", "memory")
    if store == "sqlite":
        return StorageConfig("sqlite", "sqlite", sqlite_path=Path(params["sqlite_path"]))
    if store == "redis":
        return StorageConfig.from_url(params["redis_url"], namespace="greentic:session:bench")
    expect(store, "memory", "store")
    return None


@contextlib.asynccontextmanager
async def open_host(pack: Path, params: dict[str, Any]) -> AsyncIterator[RunnerHost]:
    """A started host with ``pack`` loaded for tenant ``bench`` on the configured stores."""
    builder = HostBuilder().with_config(HostConfig(tenant=TENANT))
    config = storage_config(params)
    stores: Stores | None = None
    if config is not None:
        stores = await open_stores(config)
        builder.with_session_store(stores.session).with_state_store(stores.state)
    host = builder.build()
    try:
        await host.start()
        await host.load_pack(TENANT, pack)
        yield host
    finally:
        await host.stop()
        if stores is not None:
            await stores.close()


def check_replies(replies: list[Activity], expected: str, waiting: bool, what: str) -> None:
    expect((reply_texts(replies), is_waiting(replies)), ([expected], waiting), what)


async def echo_round(host: RunnerHost, people: list[tuple[str, str]]) -> int:
    texts = [scripts.echo_text(i) for i in range(len(people))]
    replies = [
        await host.handle_activity(TENANT, activity(user, conv, text))
        for (user, conv), text in zip(people, texts, strict=True)
    ]
    for index, reply in enumerate(replies):
        check_replies(reply, scripts.echo_reply(index), False, f"echo reply {index}")
    return len(people)


async def ask_round(host: RunnerHost, people: list[tuple[str, str]]) -> int:
    asked = [
        await host.handle_activity(TENANT, activity(user, conv, scripts.ASK_FIRST))
        for user, conv in people
    ]
    answered = [
        await host.handle_activity(TENANT, activity(user, conv, scripts.ASK_ANSWER))
        for user, conv in people
    ]
    for index, reply in enumerate(asked):
        check_replies(reply, scripts.ASK_PROMPT, True, f"ask-name turn 1 of {index}")
    for index, reply in enumerate(answered):
        check_replies(reply, scripts.greeting(), False, f"ask-name turn 2 of {index}")
    return 2 * len(people)


def _rounds(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "warmup": int(params.get("warmup", 1)),
        "rounds": int(params.get("rounds", 5)),
        "profile": params.get("profile"),
    }


async def turn_echo(params: dict[str, Any]) -> dict[str, Any]:
    people = scripts.participants(int(params.get("conversations", 1000)))
    async with open_host(PACKS / "echo", params) as host:
        rates = await timed_rounds(lambda: echo_round(host, people), **_rounds(params))
    return {"turns_per_s": summary(rates), "conversations": len(people)}


async def turn_ask_name(params: dict[str, Any]) -> dict[str, Any]:
    people = scripts.participants(int(params.get("conversations", 1000)))
    async with open_host(PACKS / "ask-name", params) as host:
        rates = await timed_rounds(lambda: ask_round(host, people), **_rounds(params))
        ops = await store_ops_per_turn(host, people, params)
    result: dict[str, Any] = {"turns_per_s": summary(rates), "conversations": len(people)}
    if ops is not None:
        result["store_ops_per_turn"] = ops
    return result


async def store_ops_per_turn(
    host: RunnerHost, people: list[tuple[str, str]], params: dict[str, Any]
) -> dict[str, float] | None:
    """Store calls (and SQL statements) one untimed round makes, per turn."""
    store = params.get("store", "memory")
    if store == "sqlite":
        from .store_ops import count_sqlite_statements

        return await count_sqlite_statements(host, lambda: ask_round(host, people))
    if store == "redis":
        from .store_ops import count_redis_commands

        return await count_redis_commands(host, lambda: ask_round(host, people))
    return None


async def memory_per_wait(params: dict[str, Any]) -> dict[str, Any]:
    """Bytes held per conversation waiting for its second turn (tracemalloc)."""
    count = int(params.get("conversations", 1000))
    people = scripts.participants(count)
    async with open_host(PACKS / "ask-name", params) as host:
        await ask_round(host, scripts.participants(50))  # warm caches outside the count

        async def park(n: int) -> None:
            for index, (user, conv) in enumerate(people[:n]):
                reply = await host.handle_activity(TENANT, activity(user, conv, scripts.ASK_FIRST))
                check_replies(reply, scripts.ASK_PROMPT, True, f"parking conversation {index}")

        memory = await retained_per_item(park, count)
        finished = [
            await host.handle_activity(TENANT, activity(user, conv, scripts.ASK_ANSWER))
            for user, conv in people
        ]
    for index, reply in enumerate(finished):
        check_replies(reply, scripts.greeting(), False, f"parked conversation {index}")
    return {"memory": memory, "conversations": count}


JOBS = {
    "turn-echo": turn_echo,
    "turn-ask-name": turn_ask_name,
    "mem-ask-name": memory_per_wait,
}

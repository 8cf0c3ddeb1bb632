"""The raw store round trips a durable ``turn-ask-name`` turn needs, with nothing around them.

Per turn: read the conversation's serialized state, then write it (first turn) or delete it
(second turn); the reply is ``str.format``. SQLite: the stdlib driver on the same file
settings as the runner's store (WAL, ``synchronous=NORMAL``), one autocommit statement per
operation, called directly (``threaded: false``) or, like the runner's store, on one worker
thread so the event loop never blocks (``threaded: true``). Redis: the same ``redis.asyncio`` client
library, ``GET`` then ``SET``/``DEL``. So the ratio says what the runner's turn costs over
the bare storage work; it has no locking, which a multi-process deployment needs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from .. import scripts
from ..common import expect, summary, timed_rounds


class SqliteRaw:
    def __init__(self, path: Path, threaded: bool) -> None:
        # One worker thread owns the connection when threaded (as in the runner's store).
        self.pool = ThreadPoolExecutor(max_workers=1) if threaded else None
        self.conn = self._call_sync(lambda: sqlite3.connect(path, isolation_level=None))
        self._call_sync(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
        self._call_sync(lambda: self.conn.execute("PRAGMA synchronous=NORMAL"))
        self._call_sync(
            lambda: self.conn.execute(
                "CREATE TABLE IF NOT EXISTS conversations"
                " (key TEXT PRIMARY KEY, data BLOB NOT NULL)"
            )
        )

    def _call_sync(self, fn: Any) -> Any:
        return fn() if self.pool is None else self.pool.submit(fn).result()

    async def _call(self, sql: str, args: tuple[Any, ...]) -> Any:
        def run() -> Any:
            return self.conn.execute(sql, args).fetchone()

        if self.pool is None:
            return run()
        return await asyncio.get_running_loop().run_in_executor(self.pool, run)

    async def turn(self, key: str, text: str) -> str:
        row = await self._call("SELECT data FROM conversations WHERE key = ?", (key,))
        if row is None:
            state = orjson.dumps({"step": "ask", "first": text})
            await self._call(
                "INSERT OR REPLACE INTO conversations (key, data) VALUES (?, ?)", (key, state)
            )
            return scripts.ASK_PROMPT
        await self._call("DELETE FROM conversations WHERE key = ?", (key,))
        return scripts.ASK_GREETING.format(name=text, first=orjson.loads(row[0])["first"])

    async def close(self) -> None:
        self._call_sync(self.conn.close)
        if self.pool is not None:
            self.pool.shutdown()


class RedisRaw:
    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)

    async def turn(self, key: str, text: str) -> str:
        full = f"bench:raw:{key}"
        raw = await self.client.get(full)
        if raw is None:
            await self.client.set(full, orjson.dumps({"step": "ask", "first": text}))
            return scripts.ASK_PROMPT
        await self.client.delete(full)
        return scripts.ASK_GREETING.format(name=text, first=orjson.loads(raw)["first"])

    async def close(self) -> None:
        await self.client.aclose()


async def ask_round(store: SqliteRaw | RedisRaw, people: list[tuple[str, str]]) -> int:
    keys = [f"{user}:{conv}" for user, conv in people]
    asked = [await store.turn(key, scripts.ASK_FIRST) for key in keys]
    answered = [await store.turn(key, scripts.ASK_ANSWER) for key in keys]
    for index, reply in enumerate(asked):
        expect(reply, scripts.ASK_PROMPT, f"raw turn 1 of {index}")
    for index, reply in enumerate(answered):
        expect(reply, scripts.greeting(), f"raw turn 2 of {index}")
    return 2 * len(people)


async def raw_store(params: dict[str, Any]) -> dict[str, Any]:
    people = scripts.participants(int(params.get("conversations", 1000)))
    store: SqliteRaw | RedisRaw
    if params["store"] == "sqlite":
        store = SqliteRaw(Path(params["sqlite_path"]), bool(params.get("threaded", False)))
    else:
        store = RedisRaw(params["redis_url"])
    try:
        rates = await timed_rounds(
            lambda: ask_round(store, people),
            warmup=int(params.get("warmup", 1)),
            rounds=int(params.get("rounds", 3)),
        )
    finally:
        await store.close()
    return {"turns_per_s": summary(rates), "conversations": len(people), "calls_per_turn": 2}


JOBS = {"raw-store": raw_store}

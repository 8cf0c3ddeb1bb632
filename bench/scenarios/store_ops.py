"""How much store traffic a turn causes, counted during one untimed round.

SQLite: every ``SqliteDatabase.run`` call is one hop to the store's worker thread and one
or more SQL statements (counted with sqlite3's trace callback). Redis: every
``execute_command`` of the shared client is one network round trip (a Lua script is one).
The counters wrap the store objects' bound methods on the instance, for this round only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from greentic_runner.host import RunnerHost

RoundFn = Callable[[], Awaitable[int]]


async def count_sqlite_statements(host: RunnerHost, run_round: RoundFn) -> dict[str, float]:
    """``{"calls": thread hops per turn, "statements": SQL statements per turn}``."""
    db = host.session_store.db  # type: ignore[attr-defined]
    statements = [0]
    calls = [0]
    original = db.run

    def trace(_sql: str) -> None:
        statements[0] += 1

    async def counting_run(op: str, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        calls[0] += 1
        return await original(op, fn)

    await original("bench trace on", lambda conn: conn.set_trace_callback(trace))
    db.run = counting_run
    try:
        turns = await run_round()
    finally:
        del db.run
        await original("bench trace off", lambda conn: conn.set_trace_callback(None))
    return {"calls": calls[0] / turns, "statements": statements[0] / turns}


async def count_redis_commands(host: RunnerHost, run_round: RoundFn) -> dict[str, float]:
    """``{"calls": Redis round trips per turn}`` (the session and state stores share one
    client when both are Redis)."""
    client = host.session_store.client  # type: ignore[attr-defined]
    calls = [0]
    original = client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        calls[0] += 1
        return await original(*args, **options)

    client.execute_command = counting
    try:
        turns = await run_round()
    finally:
        del client.execute_command
    return {"calls": calls[0] / turns}

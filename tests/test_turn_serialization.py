"""Concurrent turns of one conversation, on every backend: none lost, none resumed twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.storage.storage_helpers import RedisServer

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.replies import reply_texts
from greentic_runner.storage.config import StorageConfig, open_stores
from greentic_runner.testing import write_pack_dir

ASK_NAME = """
id: ask
type: messaging
nodes:
  ask:
    emit.response:
      text: "What is your name?"
    routing:
      - to: wait
  wait:
    session.wait: name
    routing:
      - to: greet
  greet:
    templating.handlebars:
      text: "Hello {{input.text}}, you said {{in.text}}"
    routing: out
"""


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def host(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunnerHost]:
    if request.param == "memory":
        config = StorageConfig.memory()
    elif request.param == "sqlite":
        config = StorageConfig.from_url(f"sqlite:{tmp_path / 'turns.db'}")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        namespace = f"greentic:session:test-{uuid.uuid4().hex[:8]}"
        config = StorageConfig.from_url(server.url, namespace=namespace)
    stores = await open_stores(config)
    host = (
        HostBuilder()
        .with_config(HostConfig(tenant=f"t{uuid.uuid4().hex[:8]}"))
        .with_session_store(stores.session)
        .with_state_store(stores.state)
        .build()
    )
    async with host:
        await host.load_pack(
            next(iter(host.configs)), write_pack_dir(tmp_path / "p", "ask.pack", {"ask": ASK_NAME})
        )
        yield host
    await stores.close()


async def say(host: RunnerHost, text: str, user: str = "u1") -> list[str]:
    tenant = next(iter(host.configs))
    activity = Activity.text(text).with_(user_id=user, conversation_id="c1")
    return reply_texts(await host.handle_activity(tenant, activity))


async def test_two_turn_conversation(host: RunnerHost) -> None:
    assert await say(host, "hi") == ["What is your name?"]
    assert await say(host, "Ada") == ["Hello Ada, you said hi"]
    assert await say(host, "again") == ["What is your name?"]


async def test_concurrent_turns_resume_each_snapshot_exactly_once(host: RunnerHost) -> None:
    """Serialized turns alternate resume / fresh start; no snapshot is resumed twice or lost."""
    assert await say(host, "hi") == ["What is your name?"]
    answers = [f"A{i}" for i in range(6)]
    results = dict(
        zip(answers, await asyncio.gather(*(say(host, a) for a in answers)), strict=True)
    )
    resumed_entries = [
        r[0].split("you said ")[1] for r in results.values() if r[0].startswith("Hello")
    ]
    fresh_starts = [a for a, r in results.items() if r == ["What is your name?"]]
    assert len(resumed_entries) == len(fresh_starts) == 3, results
    final = await say(host, "Zed")  # the last fresh start is still parked
    assert final[0].startswith("Hello Zed, you said ")
    resumed_entries.append(final[0].split("you said ")[1])
    assert sorted(resumed_entries) == sorted(["hi", *fresh_starts])  # each exactly once


async def test_users_do_not_block_or_see_each_other(host: RunnerHost) -> None:
    first = await asyncio.gather(*(say(host, "hi", user=f"user{i}") for i in range(5)))
    assert all(r == ["What is your name?"] for r in first)
    second = await asyncio.gather(*(say(host, f"N{i}", user=f"user{i}") for i in range(5)))
    assert [r[0] for r in second] == [f"Hello N{i}, you said hi" for i in range(5)]


BREAKS_ON_RESUME = """
id: fragile
type: messaging
nodes:
  ask:
    emit.response:
      text: "Your order number?"
    routing:
      - to: wait
  wait:
    session.wait: order
    routing:
      - to: lookup
  lookup:
    state.get:
      key: "{{input.text}}"
    routing:
      - to: reply
  reply:
    templating.handlebars:
      text: "Order {{input.text}}: {{lookup.payload.value}}"
    routing: out
"""


async def test_a_failed_turn_leaves_the_stored_conversation_as_it_was(tmp_path: Path) -> None:
    from greentic_runner.errors import FlowError

    async with HostBuilder().with_config(HostConfig(tenant="demo")).build() as host:
        await host.load_pack("demo", write_pack_dir(tmp_path, "fragile", {"f": BREAKS_ON_RESUME}))
        runtime = host.active.load_pack("demo")
        assert runtime is not None

        async def turn(text: str) -> list[str]:
            activity = Activity.text(text).with_(user_id="u", conversation_id="c")
            return reply_texts(await host.handle_activity("demo", activity))

        assert await turn("hi") == ["Your order number?"]
        before = dict(await _all_sessions(host))
        with pytest.raises(FlowError, match="state node payload missing required `key`"):
            await turn("")  # renders an empty key: state.get fails mid-resume
        assert dict(await _all_sessions(host)) == before
        assert await turn("42") == ["Order 42: "]


async def _all_sessions(host: RunnerHost) -> dict[str, str]:
    store = host.session_store
    entries = store._entries  # type: ignore[attr-defined]  # memory store internals, test only
    return {key: entry.data.context_json for key, entry in entries.items()}

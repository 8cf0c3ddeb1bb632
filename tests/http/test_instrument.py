"""Store latency metering: the durable stores' combined turn operations are timed too;
in-memory stores are not timed at all."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.host import HostBuilder
from greentic_runner.http.instrument import metered_session_store, metered_state_store
from greentic_runner.http.metrics import Metrics
from greentic_runner.storage.config import StorageConfig, open_stores
from greentic_runner.storage.session import InMemorySessionStore
from greentic_runner.storage.state import InMemoryStateStore
from greentic_runner.testing import write_pack_dir

ASK = """
id: ask
type: messaging
nodes:
  ask:
    emit.response:
      text: "Name?"
    routing:
      - to: wait
  wait:
    session.wait: name
    routing:
      - to: greet
  greet:
    templating.handlebars:
      text: "Hello {{input.text}}"
    routing: out
"""


async def test_turn_lock_read_and_last_write_are_timed_on_sqlite(tmp_path: Path) -> None:
    metrics = Metrics()
    async with await open_stores(StorageConfig.from_url(f"sqlite:{tmp_path / 'm.db'}")) as stores:
        host = (
            HostBuilder()
            .with_config(HostConfig("demo"))
            .with_session_store(metered_session_store(stores.session, metrics))
            .with_state_store(stores.state)
            .build()
        )
        async with host:
            await host.load_pack("demo", write_pack_dir(tmp_path / "p", "ask", {"ask": ASK}))
            for text in ("hi", "Ada"):
                await host.handle_activity("demo", Activity.text(text).with_(user_id="u"))
    text = generate_latest(metrics.registry).decode()
    for operation in ("begin_turn", "turn_park", "turn_clear"):
        line = (
            "greentic_store_operation_duration_seconds_count"
            f'{{operation="{operation}",outcome="ok",store="session"}} '
        )
        assert line + ("2.0" if operation == "begin_turn" else "1.0") in text, operation


def test_in_memory_stores_are_not_wrapped() -> None:
    metrics = Metrics()
    session, state = InMemorySessionStore(), InMemoryStateStore()
    assert metered_session_store(session, metrics) is session
    assert metered_state_store(state, metrics) is state

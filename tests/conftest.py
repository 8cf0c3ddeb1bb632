"""Shared fixtures. Helpers that users also need live in greentic_runner.testing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.storage.storage_helpers import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session (never the machine's 6379, never flushed);
    tests isolate by namespace or tenant."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()

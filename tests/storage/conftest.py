"""Backend fixtures: every contract test runs against memory, SQLite and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.storage.kits import Kit
from tests.storage.storage_helpers import FakeClock

from greentic_runner.storage import SessionStore, StateStore

ALL_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
SHARED_BACKENDS = ALL_BACKENDS[1:]


async def _kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    backend = request.param
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    kit = Kit(backend, FakeClock(), tmp_path, redis_url=url)
    yield kit
    await kit.close()


@pytest.fixture(params=ALL_BACKENDS)
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    """A backend kit for memory, sqlite and redis."""
    async for value in _kit(request, tmp_path):
        yield value


@pytest.fixture(params=SHARED_BACKENDS)
async def shared_kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    """Backends whose stores several instances (or processes) can share: sqlite, redis."""
    async for value in _kit(request, tmp_path):
        yield value


@pytest.fixture(params=ALL_BACKENDS)
async def shared_or_memory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    """Like ``kit``, for tests that open two instances (memory hands out the same one)."""
    async for value in _kit(request, tmp_path):
        yield value


@pytest.fixture
async def sessions(kit: Kit) -> SessionStore:
    return await kit.session_store()


@pytest.fixture
async def states(kit: Kit) -> StateStore:
    return await kit.state_store()


@pytest.fixture
def tenant() -> str:
    """A tenant id unique to the test, so Redis state keys never collide across tests."""
    return f"t{uuid.uuid4().hex[:12]}"

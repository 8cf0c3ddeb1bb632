"""Fixtures of the HTTP tests (helpers live in tests/http/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.http.harness import chatbot_host

from greentic_runner.host import RunnerHost


@pytest.fixture
async def host() -> AsyncIterator[RunnerHost]:
    host = await chatbot_host()
    yield host
    await host.stop()

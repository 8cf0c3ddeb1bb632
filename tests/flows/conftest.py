"""Fixtures for the flow engine tests (helpers live in tests/flows/flowkit.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.flows.flowkit import PACK, Components, Sleeps

from greentic_runner.config import RetryConfig
from greentic_runner.flows.engine import FlowEngine
from greentic_runner.flows.model import Flow
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.storage.state import InMemoryStateStore
from greentic_runner.testing import make_pack


@pytest.fixture
def components() -> Components:
    return Components()


@pytest.fixture
def store() -> InMemoryStateStore:
    return InMemoryStateStore()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def build(
    components: Components, store: InMemoryStateStore, sleeps: Sleeps
) -> Callable[..., FlowEngine]:
    """``build(flow, ...)`` → a FlowEngine over one pack holding those flows."""

    def _build(*flows: Flow, pack: PackRuntime | None = None, **options: Any) -> FlowEngine:
        options.setdefault("retry", RetryConfig(max_attempts=1))
        options.setdefault("state_store", store)
        options.setdefault("sleep", sleeps)
        runtime = pack or make_pack(PACK, list(flows))
        return FlowEngine([runtime], invoker=components, **options)

    return _build

"""ServerContext: the per-app state every handler reads (``RunnerApp.ctx``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from ..clock import SYSTEM_CLOCK, Clock
from ..host import RunnerHost
from ..reload import PackSource
from .dedupe import DedupeStore
from .metrics import Metrics
from .settings import HttpSettings
from .turns import TurnRunner


@dataclass(slots=True)
class ServerContext:
    host: RunnerHost
    settings: HttpSettings
    metrics: Metrics
    dedupe: DedupeStore
    turns: TurnRunner
    reload_source: PackSource | None = None
    reloader: Callable[[], Awaitable[Any]] | None = None
    clock: Clock = SYSTEM_CLOCK
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    draining: bool = False


def context(request: Request) -> ServerContext:
    """The request's app's context (an attribute, not ``app.state``: every request asks)."""
    ctx: ServerContext = request.scope["app"].ctx
    return ctx

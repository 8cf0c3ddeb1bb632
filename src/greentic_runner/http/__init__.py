"""The runner's HTTP server: activities API, channel adapters, health, admin, metrics, chat.

``create_app(host)`` builds the ASGI app; ``greentic-runner serve`` runs it under uvicorn.
"""

from __future__ import annotations

from .app import create_app
from .dedupe import DedupeStore, MemoryDedupe
from .limits import Limits
from .metrics import Metrics
from .settings import ChannelSecrets, HttpSettings
from .tenants import TenantRouting

__all__ = [
    "ChannelSecrets",
    "DedupeStore",
    "HttpSettings",
    "Limits",
    "MemoryDedupe",
    "Metrics",
    "TenantRouting",
    "create_app",
]

"""Session and state stores: protocols, in-memory implementations and backends."""

from __future__ import annotations

from .session import InMemorySessionStore, SessionCursor, SessionData, SessionStore
from .state import InMemoryStateStore, StateStore

__all__ = [
    "InMemorySessionStore",
    "InMemoryStateStore",
    "SessionCursor",
    "SessionData",
    "SessionStore",
    "StateStore",
]

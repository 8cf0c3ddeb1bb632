"""Session and state stores: protocols, the in-memory implementations and the durable
backends (SQLite, the default; Redis, for deployments that share conversations).

See ``docs/storage.md`` for key shapes, configuration and guarantees.
"""

from __future__ import annotations

from .config import StorageConfig, Stores, open_stores
from .locks import LeasePolicy
from .redis import RedisStateStore
from .redis_session import RedisSessionStore
from .session import InMemorySessionStore, SessionCursor, SessionData, SessionStore
from .sqlite import SqliteDatabase
from .sqlite_session import SqliteSessionStore
from .sqlite_state import SqliteStateStore
from .state import InMemoryStateStore, StateStore

__all__ = [
    "InMemorySessionStore",
    "InMemoryStateStore",
    "LeasePolicy",
    "RedisSessionStore",
    "RedisStateStore",
    "SessionCursor",
    "SessionData",
    "SessionStore",
    "SqliteDatabase",
    "SqliteSessionStore",
    "SqliteStateStore",
    "StateStore",
    "StorageConfig",
    "Stores",
    "open_stores",
]

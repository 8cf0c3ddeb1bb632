"""Dedupe of redelivered channel events (Idempotency-Key, Telegram update_id, Slack event_id…).

A key goes through three states: unknown → *in flight* (claimed by the request running the
turn) → *done* (the response is remembered). A failed turn releases its claim, so the
channel's own retry runs the turn again instead of getting a remembered error.

:class:`MemoryDedupe` keeps entries in process memory, bounded in count and age. It is only
correct for ONE server process: with several workers or replicas, a redelivery can land on a
process that never saw the original. Multi-replica deployments need a shared implementation
of :class:`DedupeStore` — on Redis: ``claim`` = ``SET key "in-flight" NX EX ttl`` (taken →
``GET`` to tell in-flight from done), ``complete`` = ``SET key <json> EX ttl``, ``release`` =
``DEL key`` — passed to ``create_app(..., dedupe=...)``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal, Protocol

import orjson

from ..clock import SYSTEM_CLOCK, Clock
from ..records import record

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_TTL_SECS = 3600.0

ClaimState = Literal["new", "in_flight", "done"]


@record
class Claim:
    """The outcome of :meth:`DedupeStore.claim`; ``value`` is the remembered response when done."""

    state: ClaimState
    value: Any = None


NEW = Claim("new")
IN_FLIGHT = Claim("in_flight")


class DedupeStore(Protocol):
    async def claim(self, key: str) -> Claim:
        """Claim ``key`` for this request (state ``new``), or report who has it."""
        ...

    async def complete(self, key: str, value: Any) -> None:
        """Remember the response for ``key`` (a JSON-compatible ``value``; ``claim`` gives
        back an equal one, not the same object)."""
        ...

    async def release(self, key: str) -> None:
        """Forget an in-flight claim (the turn failed; a retry may run it again)."""
        ...


_IN_FLIGHT_VALUE = None  # an entry's value while its turn runs


class MemoryDedupe:
    """An in-process :class:`DedupeStore`: at most ``max_entries`` keys, each for ``ttl_secs``.

    When full, the oldest key is evicted first (a very late redelivery of it runs again).
    An entry is ``(expires_at, value)``: the remembered value serialized as JSON bytes, like
    the Redis store keeps it (the same values work on both), ``None`` while in flight. Plain
    tuples of atoms: ten thousand remembered responses are no work for the garbage collector.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        ttl_secs: float = DEFAULT_TTL_SECS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.ttl_secs = ttl_secs
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def claim(self, key: str) -> Claim:
        now = self._clock.now()
        entry = self._entries.get(key)
        if entry is not None:
            expires_at, value = entry
            if expires_at > now:
                return IN_FLIGHT if value is None else Claim("done", orjson.loads(value))
            del self._entries[key]
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = (now + self.ttl_secs, _IN_FLIGHT_VALUE)
        return NEW

    async def complete(self, key: str, value: Any) -> None:
        self._entries[key] = (self._clock.now() + self.ttl_secs, orjson.dumps(value))
        self._entries.move_to_end(key)

    async def release(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] is None:
            del self._entries[key]

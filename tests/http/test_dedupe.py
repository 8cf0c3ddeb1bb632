"""MemoryDedupe: claim → in flight → done, release, TTL and the size bound."""

from __future__ import annotations

import pytest

from greentic_runner.http.dedupe import Claim, MemoryDedupe
from greentic_runner.testing import FakeClock


async def test_claim_lifecycle() -> None:
    dedupe = MemoryDedupe(clock=FakeClock())
    assert await dedupe.claim("k") == Claim("new")
    assert await dedupe.claim("k") == Claim("in_flight")
    await dedupe.complete("k", {"status": 200})
    assert await dedupe.claim("k") == Claim("done", {"status": 200})


async def test_release_forgets_only_in_flight_claims() -> None:
    dedupe = MemoryDedupe(clock=FakeClock())
    await dedupe.claim("a")
    await dedupe.release("a")
    assert await dedupe.claim("a") == Claim("new")
    await dedupe.complete("a", 1)
    await dedupe.release("a")
    assert await dedupe.claim("a") == Claim("done", 1)


async def test_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    dedupe = MemoryDedupe(ttl_secs=60, clock=clock)
    await dedupe.claim("k")
    await dedupe.complete("k", "v")
    clock.advance(59)
    assert (await dedupe.claim("k")).state == "done"
    clock.advance(2)
    assert await dedupe.claim("k") == Claim("new")


async def test_the_oldest_entry_is_evicted_at_the_bound() -> None:
    dedupe = MemoryDedupe(max_entries=3, clock=FakeClock())
    for key in "abc":
        await dedupe.claim(key)
        await dedupe.complete(key, key)
    await dedupe.claim("d")
    assert len(dedupe) == 3
    assert await dedupe.claim("a") == Claim("new")  # evicted, so it runs again
    assert (await dedupe.claim("c")).state == "done"


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryDedupe(max_entries=0)


async def test_remembered_values_are_json_like_on_redis() -> None:
    """Values are kept serialized: what comes back is an equal copy, and a value the Redis
    store could not keep is refused here too."""
    dedupe = MemoryDedupe(clock=FakeClock())
    value = {"status": 200, "headers": {"x-a": "1"}, "text": "ok"}
    await dedupe.claim("k")
    await dedupe.complete("k", value)
    value["status"] = 500  # the caller's object changing later does not change the memory
    assert await dedupe.claim("k") == Claim(
        "done", {"status": 200, "headers": {"x-a": "1"}, "text": "ok"}
    )
    await dedupe.claim("bad")
    with pytest.raises(TypeError):
        await dedupe.complete("bad", {"when": object()})

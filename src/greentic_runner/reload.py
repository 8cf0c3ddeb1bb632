"""Reloading every tenant's packs from a source, atomically (spec §2.1 replace_legacy, §9.1).

A :class:`PackSource` says which packs each tenant runs (main first, then overlays).
:func:`reload_all` builds every tenant's new runtime *before* touching the running ones and
swaps them in with one ``replace_legacy``: a failure anywhere changes nothing, records
``health.last_error`` and re-raises; success records ``health.last_reload`` (and clears
``last_error``). Tenants the source no longer names are dropped; revision runtimes stay.

``serve`` uses :class:`StaticPackSource` (from its flags and config file); a pack-index
source (the reference's ``PACK_INDEX_URL`` watcher) implements the same protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .errors import RunnerError, with_context
from .host import RunnerHost
from .runtime import TenantRuntime
from .runtime_loader import PackRef

log = logging.getLogger(__name__)


class PackSource(Protocol):
    async def resolve(self) -> dict[str, list[PackRef]]:
        """tenant → its packs (main first, then overlays). Raises RunnerError on failure."""
        ...


@dataclass(frozen=True, slots=True)
class StaticPackSource:
    """A fixed tenant → packs map (the ``serve`` flags and config file)."""

    tenants: Mapping[str, Sequence[PackRef]] = field(default_factory=dict)

    async def resolve(self) -> dict[str, list[PackRef]]:
        return {tenant: list(refs) for tenant, refs in self.tenants.items()}


async def reload_all(
    host: RunnerHost, source: PackSource, *, log_failure: bool = True
) -> dict[str, TenantRuntime]:
    """Resolve, build every tenant's runtime, then swap them all in at once.

    Returns the new runtimes. Raises the first RunnerError (with the failing tenant named);
    the running packs are untouched in that case. ``log_failure=False`` skips the warning
    (for callers that report the error themselves, e.g. a server failing to start).
    """
    built: dict[str, TenantRuntime] = {}
    try:
        plan = await source.resolve()
        for tenant, refs in plan.items():
            try:
                built[tenant] = await host.build_runtime(tenant, refs)
            except RunnerError as exc:
                raise with_context(f"failed to load tenant {tenant}", exc) from exc
    except (RunnerError, asyncio.CancelledError) as exc:
        for runtime in built.values():
            runtime.close()
        if isinstance(exc, RunnerError):
            host.health.record_error(str(exc))
            if log_failure:
                log.warning("pack reload failed; running packs kept: %s", exc)
        raise
    host.active.replace_legacy(built)
    host.health.record_reload()
    log.info("packs reloaded", extra={"tenants": sorted(built)})
    return built

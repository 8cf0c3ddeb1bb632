"""Prometheus metrics of the HTTP server, on a registry of their own (one per app).

* ``greentic_turns_total{tenant,channel,flow,outcome}`` — outcome is ``done``, ``waiting``,
  ``error`` or ``timeout``; ``flow`` is the flow the turn ran when known, else ``-``.
* ``greentic_turn_duration_seconds{tenant,channel}`` — histogram of whole turns.
* ``greentic_component_call_duration_seconds{component,operation,outcome}`` and
  ``greentic_store_operation_duration_seconds{store,operation,outcome}`` — filled when the
  host was built with the metered invoker / stores from :mod:`.instrument`.
* ``greentic_loaded_packs{tenant}``, ``greentic_active_runtimes`` — read from the host's
  active packs at scrape time.
* ``greentic_dedupe_hits_total{channel}``, ``greentic_signature_failures_total{channel}``.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..runtime import ActivePacks
from .metric_families import Counter, Histogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TURN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_CALL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)


class _ActivePacksCollector(Collector):
    def __init__(self, active: ActivePacks) -> None:
        self._active = active

    def collect(self) -> Iterator[Metric]:
        snapshot = self._active.snapshot()
        packs = GaugeMetricFamily(
            "greentic_loaded_packs", "Packs (main + overlays) loaded, by tenant", labels=["tenant"]
        )
        per_tenant: Tally[str] = Tally()
        for key, runtime in snapshot.items():
            per_tenant[key.tenant] += len(runtime.packs)
        for tenant, count in sorted(per_tenant.items()):
            packs.add_metric([tenant], count)
        yield packs
        yield GaugeMetricFamily(
            "greentic_active_runtimes",
            "Tenant runtimes (legacy and revision) in the active map",
            value=len(snapshot),
        )


class Metrics:
    """The server's metric families. ``render()`` gives the Prometheus text format."""

    def __init__(self) -> None:
        self._turn_children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.turns = Counter(
            "greentic_turns",
            "Turns run, by tenant, channel, flow and outcome",
            ["tenant", "channel", "flow", "outcome"],
        )
        self.turn_seconds = Histogram(
            "greentic_turn_duration_seconds",
            "Wall time of one turn (routing, flow, stores)",
            ["tenant", "channel"],
            buckets=_TURN_BUCKETS,
        )
        self.component_seconds = Histogram(
            "greentic_component_call_duration_seconds",
            "Wall time of one component call",
            ["component", "operation", "outcome"],
            buckets=_CALL_BUCKETS,
        )
        self.store_seconds = Histogram(
            "greentic_store_operation_duration_seconds",
            "Wall time of one session/state store operation",
            ["store", "operation", "outcome"],
            buckets=_CALL_BUCKETS,
        )
        self.dedupe_hits = Counter(
            "greentic_dedupe_hits",
            "Redelivered channel events answered without running a turn",
            ["channel"],
        )
        self.signature_failures = Counter(
            "greentic_signature_failures",
            "Channel requests rejected by a signature or token check",
            ["channel"],
        )
        for family in (
            self.turns,
            self.turn_seconds,
            self.component_seconds,
            self.store_seconds,
            self.dedupe_hits,
            self.signature_failures,
        ):
            self.registry.register(family)
        self._watching: ActivePacks | None = None

    def watch(self, active: ActivePacks) -> None:
        """Report ``active``'s loaded packs at scrape time (once per registry)."""
        if self._watching is None:
            self._watching = active
            self.registry.register(_ActivePacksCollector(active))

    def record_turn(
        self, tenant: str, channel: str, flow: str, outcome: str, seconds: float
    ) -> None:
        key = (tenant, channel, flow, outcome)
        children = self._turn_children.get(key)
        if children is None:  # labels() is slow; resolve each label set once
            children = (self.turns.labels(*key), self.turn_seconds.labels(tenant, channel))
            self._turn_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

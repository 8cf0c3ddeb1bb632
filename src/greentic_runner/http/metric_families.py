"""Labelled counters and histograms recorded with plain arithmetic, exposed at scrape time.

``prometheus_client``'s own metrics take a lock per increment (two or more per histogram
observation) so they can be shared across threads. The server records its per-request
metrics on the event loop thread only, where those locks are pure cost on every turn; these
families keep plain numbers per label set and turn them into the same Prometheus samples
(``_total``, ``_bucket``/``_count``/``_sum``, ``_created``) when ``/metrics`` is scraped. The
API is the subset the server uses: ``family.labels(*values).inc()`` / ``.observe(v)``.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString


def _go_float(value: float) -> str:
    """A bucket bound as Prometheus' own client writes it (``1.0``, ``0.25``)."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


class CounterChild:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramChild:
    __slots__ = ("_bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self._bounds, amount)] += 1  # bucket i holds v <= bounds[i]
        self.sum += amount


class _Family(Collector):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)

    def _check(self, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        return tuple(str(value) for value in values)


class Counter(_Family):
    """A labelled counter (``<name>_total``)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        super().__init__(name, documentation, labelnames)
        self._children: dict[tuple[str, ...], CounterChild] = {}

    def labels(self, *values: str) -> CounterChild:
        child = self._children.get(values)
        if child is None:
            key = self._check(values)
            child = self._children.setdefault(key, CounterChild())
        return child

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self._children.items()):
            family.add_metric(values, child.value, created=child.created)
        yield family


class Histogram(_Family):
    """A labelled histogram with fixed upper bounds (``+Inf`` is added)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self._bounds = tuple(sorted(float(bound) for bound in buckets))
        self._children: dict[tuple[str, ...], HistogramChild] = {}

    def labels(self, *values: str) -> HistogramChild:
        child = self._children.get(values)
        if child is None:
            key = self._check(values)
            child = self._children.get(key) or self._children.setdefault(
                key, HistogramChild(self._bounds)
            )
        return child

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        edges = [_go_float(bound) for bound in self._bounds] + ["+Inf"]
        for values, child in list(self._children.items()):
            cumulative, buckets = 0, []
            for edge, count in zip(edges, child.counts, strict=True):
                cumulative += count
                buckets.append((edge, cumulative))
            family.add_metric(values, buckets, child.sum)
            labels = dict(zip(self.labelnames, values, strict=True))
            family.samples.append(Sample(f"{self.name}_created", labels, child.created))
        yield family

"""The lock-free metric families expose exactly what prometheus_client's own would."""

from __future__ import annotations

import re

import prometheus_client
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from greentic_runner.http import metric_families

BUCKETS = (0.001, 0.01, 0.5, 1, 2.5)
_CREATED = re.compile(r"^(\S+_created\{[^}]*\}) \S+$", re.MULTILINE)


def _exposition(registry: CollectorRegistry) -> str:
    """The text format with ``_created`` timestamps blanked (they differ by construction)."""
    return _CREATED.sub(r"\1 T", generate_latest(registry).decode())


def _pair() -> tuple[CollectorRegistry, CollectorRegistry, tuple[object, ...]]:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter = metric_families.Counter("greentic_things", "Things", ["kind"])
    histogram = metric_families.Histogram("greentic_wait_seconds", "Waits", ["kind"], BUCKETS)
    ours.register(counter)
    ours.register(histogram)
    reference_counter = prometheus_client.Counter(
        "greentic_things", "Things", ["kind"], registry=theirs
    )
    reference_histogram = prometheus_client.Histogram(
        "greentic_wait_seconds", "Waits", ["kind"], buckets=BUCKETS, registry=theirs
    )
    return ours, theirs, (counter, histogram, reference_counter, reference_histogram)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.floats(min_value=0, max_value=10, allow_nan=False).filter(lambda v: v not in BUCKETS)
            | st.sampled_from(BUCKETS),
        ),
        max_size=30,
    )
)
def test_same_samples_as_prometheus_client(observations: list[tuple[str, float]]) -> None:
    ours, theirs, (counter, histogram, ref_counter, ref_histogram) = _pair()
    for kind, value in observations:
        counter.labels(kind).inc()
        histogram.labels(kind).observe(value)
        ref_counter.labels(kind).inc()
        ref_histogram.labels(kind).observe(value)
    assert _exposition(ours) == _exposition(theirs)


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    histogram = metric_families.Histogram("h_seconds", "h", ["k"], BUCKETS)
    histogram.labels("x").observe(0.5)
    assert histogram.labels("x").counts == [0, 0, 1, 0, 0, 0]


def test_wrong_label_count_is_refused() -> None:
    with pytest.raises(ValueError):
        metric_families.Counter("c", "c", ["a", "b"]).labels("only-one")

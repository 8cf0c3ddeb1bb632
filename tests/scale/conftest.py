"""Fixtures of the multi-process tests: one two-process cluster shared by the tests that
only talk to it (each uses its own users and conversations); tests that kill a process or
need bindings start their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.scale.cluster import EXAMPLES, SCALE_PACK, Cluster, cluster
from tests.storage.storage_helpers import RedisServer


@pytest.fixture(scope="session")
def shared_cluster(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two serve processes on one Redis: tenant ``demo`` = the scale pack (also the channel
    routes' tenant), tenant ``onboarding`` = ``examples/onboarding``."""
    args = ["--pack", f"demo={SCALE_PACK}", "--pack", f"onboarding={EXAMPLES / 'onboarding'}"]
    with cluster(redis_server, tmp_path_factory.mktemp("shared-cluster"), args) as running:
        yield running

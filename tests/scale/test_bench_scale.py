"""The scale-out benchmark's own checks (bench/scale.py), without the load generator: its
server processes answer a conversation split over both, and wrk reports are read right."""

from __future__ import annotations

import pytest
from bench import scale
from tests.storage.storage_helpers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]

WRK_REPORT = """Running 5s test @ http://127.0.0.1:40000/webchat/activities
  1 threads and 16 connections
  Latency Distribution
     50%   16.25ms
     75%   18.53ms
     90%   21.83ms
     99%  890.00us
  4613 requests in 5.00s, 1.53MB read
Requests/sec:    922.47
Transfer/sec:    312.72KB
"""


def test_servers_answer_a_conversation_split_over_two_processes(
    redis_server: RedisServer,
) -> None:
    # servers() itself runs scale.check_conversation (turn 1 on the first process, turn 2
    # on the last); a wrong reply would raise BenchCheckError here.
    with scale.servers(2, redis_server.url) as running:
        assert len(running) == 2
        assert all(url.endswith("/webchat/activities") for url, _ in running)
        assert all(scale.cpu_seconds(pid) > 0 for _, pid in running)


def test_wrk_reports_are_parsed() -> None:
    run = scale.parse_wrk(WRK_REPORT, "target")
    assert run == scale.WrkResult(922.47, 16.25, 0.89)


@pytest.mark.parametrize("failure", ["Non-2xx or 3xx responses: 3", "Socket errors: connect 1"])
def test_a_wrk_run_with_failed_requests_is_an_error(failure: str) -> None:
    with pytest.raises(AssertionError, match="wrk saw failed requests against target"):
        scale.parse_wrk(WRK_REPORT + failure + "\n", "target")


def test_an_unreadable_wrk_report_is_an_error() -> None:
    with pytest.raises(AssertionError, match="cannot read wrk output"):
        scale.parse_wrk("wrk: connection refused\n", "target")

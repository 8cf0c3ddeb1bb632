"""The benchmark harness imports, runs a scenario for a handful of turns and checks replies.

No timing is asserted: figures come from ``make bench`` (docs/performance.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from bench import icount, scripts
from bench.common import BenchCheckError
from bench.report import Outcome, Target
from bench.scenarios import floor, turns


async def test_ask_name_scenario_runs_a_few_checked_rounds() -> None:
    result = await turns.turn_ask_name({"conversations": 3, "warmup": 1, "rounds": 2})
    assert result["conversations"] == 3
    assert len(result["turns_per_s"]["rounds"]) == 2
    assert result["turns_per_s"]["median"] > 0


async def test_ask_name_round_gives_the_documented_replies() -> None:
    people = scripts.participants(2)
    async with turns.open_host(turns.PACKS / "ask-name", {}) as host:
        first = await host.handle_activity(turns.TENANT, turns.activity(*people[0], "hi"))
        second = await host.handle_activity(turns.TENANT, turns.activity(*people[0], "Ada"))
        turns.check_replies(first, "What is your name?", True, "turn 1")
        turns.check_replies(second, "Hello Ada, you said hi", False, "turn 2")
        assert await turns.ask_round(host, people) == 4


async def test_a_wrong_reply_fails_the_round() -> None:
    # The echo pack answers "You said: hi", not the ask-name prompt: the check must object.
    async with turns.open_host(turns.PACKS / "echo", {}) as host:
        with pytest.raises(BenchCheckError, match="ask-name turn 1 of 0"):
            await turns.ask_round(host, scripts.participants(1))


async def test_floor_gives_the_same_replies_as_the_runner() -> None:
    bot = floor.FloorBot()
    assert await bot.ask_name("u", "c", "hi") == ["What is your name?"]
    assert await bot.ask_name("u", "c", "Ada") == ["Hello Ada, you said hi"]
    assert await floor.echo_round(bot, scripts.participants(3)) == 3


def test_bench_line_ends_with_the_ratio() -> None:
    outcome = Outcome("turn-echo", {"turns_per_s": 12345.6}, ratio=1.75, target=Target(1.5))
    assert outcome.line() == "BENCH turn-echo turns_per_s=12346 target=>=1.5 held=yes ratio=1.75"
    missed = Outcome("tenants-10k", {"tenants": 10}, ratio=1.3, target=Target(1.2, False))
    assert missed.line() == "BENCH tenants-10k tenants=10 target=<=1.2 held=no ratio=1.3"
    pending = Outcome("http-webchat", status="pending", note="not landed")
    assert pending.line() == 'BENCH http-webchat status=pending reason="not landed" ratio=n/a'


@pytest.mark.parametrize("side", icount.SIDES)
async def test_icount_drives_each_app_with_checked_replies(side: str) -> None:
    await icount.child(side, requests=3, warmup=2)


async def test_icount_refuses_an_app_that_does_not_echo() -> None:
    async def wrong(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"activities": []}'})

    with pytest.raises(BenchCheckError, match="text of the first reply"):
        await icount.drive(wrong, requests=1, warmup=0)


def test_webchat_ratio_pairs_the_runs_of_each_pass() -> None:
    from bench.webchat import WrkRun, paired_ratio

    def runs(*rates: float) -> list[WrkRun]:
        return [WrkRun(rate, 1.0, 2.0) for rate in rates]

    # A slow spell in the third pass hits both sides: its pair still says 0.6.
    measured = {"ours": runs(600, 610, 300, 590, 605), "bare": runs(1000, 1000, 500, 1000, 1000)}
    assert paired_ratio(measured) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        paired_ratio({"ours": runs(1, 2), "bare": runs(1)})


async def test_tenants_job_alternates_checked_rounds_of_both_hosts() -> None:
    from bench.scenarios import tenants

    result = await tenants.tenants_job({"tenants": 5, "turns": 7, "pairs": 3})
    assert result["tenants"] == 5 and result["pairs"] == 3
    assert result["dispatch_us_1"] > 0 and result["dispatch_us_many"] > 0 and result["ratio"] > 0
    with pytest.raises(ValueError, match="N > 1"):
        await tenants.tenants_job({"tenants": 1})


def test_tenants_ratio_is_the_median_of_the_pairs() -> None:
    from bench.scenarios.tenants import paired_ratio

    # The second pair ran in a slow spell on both sides: it still says 1.1.
    assert paired_ratio([11.0, 22.0, 13.0], [10.0, 20.0, 10.0]) == pytest.approx(1.1)
    with pytest.raises(ValueError):
        paired_ratio([1.0], [1.0, 2.0])


def test_tenants_rounds_spread_turns_over_every_tenant() -> None:
    from bench.scenarios.tenants import round_inputs, tenant_name

    inputs = round_inputs(tenants=7, turns=7, first=3)
    assert sorted(tenant for tenant, _ in inputs) == [tenant_name(i) for i in range(7)]
    assert len({message.conversation_id for _, message in inputs}) == 7


@pytest.mark.parametrize("side", ["ours-echo", "ours-ask-name"])
async def test_icount_turn_rounds_check_our_replies(side: str) -> None:
    await icount.turn_rounds(side, rounds=1, conversations=3)


def test_icount_lines_divide_the_extra_instructions_by_the_extra_operations() -> None:
    ask = next(c for c in icount.COMPARISONS if c.name == "turn-ask-name-icount")
    counts = {("ours-ask-name", 1): 1_000, ("ours-ask-name", 2): 1_000 + 2000 * 600}
    assert icount.per_operation(ask, counts, "ours-ask-name") == 600
    line = icount.line(ask, 600.0, 6600.0)
    assert line == (
        "BENCH turn-ask-name-icount instructions_per_turn=600 "
        "peer_instructions_per_turn=6600 ratio=11.000"
    )

"""Graceful shutdown: a turn that is running when the server is told to stop still answers."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn
from tests.http.harness import build_app
from tests.http.serving import free_port

from greentic_runner.activity import Activity
from greentic_runner.host import RunnerHost
from greentic_runner.http.metrics import Metrics
from greentic_runner.http.turns import TurnRunner


async def test_in_flight_turn_finishes_after_stop_is_requested(host: RunnerHost) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    original = host.handle_activity

    async def gated(tenant: str, activity: Activity) -> list[Activity]:
        started.set()
        await release.wait()
        return await original(tenant, activity)

    host.handle_activity = gated  # type: ignore[method-assign]
    app = build_app(host)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)  # real sockets: wait for the listener
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        turn = asyncio.create_task(
            http.post("/tenants/demo/activities", json={"payload": {"text": "hi"}})
        )
        await started.wait()
        server.should_exit = True
        while any(s.is_serving() for s in server.servers):
            await asyncio.sleep(0.01)  # the listener closes before in-flight work is awaited
        assert not serving.done()
        release.set()
        response = await turn
    await serving
    assert response.status_code == 200
    assert response.json()["activities"][0]["payload"]["status"] == "pending"
    assert app.ctx.draining is True
    assert app.ctx.turns.in_flight == 0


async def test_drain_waits_for_turns_and_gives_up_after_the_timeout(host: RunnerHost) -> None:
    release = asyncio.Event()

    async def gated(tenant: str, activity: Activity) -> list[Activity]:
        await release.wait()
        return []

    host.handle_activity = gated  # type: ignore[method-assign]
    turns = TurnRunner(host, Metrics(), timeout_secs=0)
    assert await turns.drain(0.01) is True  # idle
    running = asyncio.create_task(turns.run("demo", Activity.text("hi"), "api"))
    await asyncio.sleep(0)
    assert turns.in_flight == 1
    assert await turns.drain(0.01) is False
    waiter = asyncio.create_task(turns.drain(None))
    release.set()
    assert await waiter is True
    assert await running == []
    # A later busy spell: two drains wait for it together.
    release.clear()
    running = asyncio.create_task(turns.run("demo", Activity.text("hi"), "api"))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(turns.drain(None)) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    release.set()
    assert await asyncio.gather(*waiters) == [True, True]
    assert await running == []

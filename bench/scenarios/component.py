"""``turn-component``: a turn whose one node calls a tiny WebAssembly echo component, vs a
direct wasmtime-py call of the same export.

Both sides make the same isolated call the runner makes: a fresh ``Store``, instantiate,
``invoke("echo", envelope)`` of ``greentic:component/node@0.6.0`` with the CBOR payload
``{"text": "You said: <text>"}``, decode the CBOR output. The raw side skips everything
else (no host, no flow, no fuel or deadlines); the call on a reused instance is reported
too, to show what instantiation costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
import wasmtime
from wasmtime import component as cm

from .. import scripts
from ..common import expect, summary, timed_rounds
from .turns import echo_round, open_host

WORLD = "greentic:component/node@0.6.0"


async def turn_component(params: dict[str, Any]) -> dict[str, Any]:
    people = scripts.participants(int(params.get("conversations", 1000)))
    async with open_host(Path(params["pack"]), params) as host:
        rates = await timed_rounds(
            lambda: echo_round(host, people),
            warmup=int(params.get("warmup", 1)),
            rounds=int(params.get("rounds", 5)),
            profile=params.get("profile"),
        )
    stats = summary(rates)
    return {"turns_per_s": stats, "turn_us": 1e6 / stats["median"]}


def record(**fields: Any) -> cm.Record:
    value = cm.Record()
    for name, item in fields.items():
        setattr(value, name.replace("_", "-"), item)
    return value


class RawEcho:
    """The echo component compiled once; :meth:`call` is one isolated invocation."""

    def __init__(self, wasm: Path) -> None:
        self.engine = wasmtime.Engine()
        self.component = cm.Component.from_file(self.engine, str(wasm))
        self.linker = cm.Linker(self.engine)
        world = self.component.get_export_index(WORLD)
        self.invoke = self.component.get_export_index("invoke", world)
        self.ctx = record(
            tenant_id="bench",
            team_id=None,
            user_id=None,
            env_id="local",
            trace_id="",
            correlation_id="bench",
            deadline_ms=0,
            attempt=1,
            idempotency_key=None,
            i18n_id="en",
        )

    def envelope(self, text: str) -> cm.Record:
        return record(
            ctx=self.ctx,
            flow_id="echo",
            step_id="reply",
            component_id="echo06",
            attempt=1,
            payload_cbor=cbor2.dumps({"text": scripts.ECHO_REPLY.format(text)}),
            metadata_cbor=None,
        )

    def call(self, text: str, store: wasmtime.Store | None = None, instance: Any = None) -> Any:
        if store is None:
            store = wasmtime.Store(self.engine)
            instance = self.linker.instantiate(store, self.component)
        func = instance.get_func(store, self.invoke)
        result = func(store, "echo", self.envelope(text))
        body = result.payload if isinstance(result, cm.Variant) else result
        return cbor2.loads(getattr(body, "output-cbor"))


async def raw_component(params: dict[str, Any]) -> dict[str, Any]:
    raw = RawEcho(Path(params["wasm"]))
    count = int(params.get("conversations", 1000))
    texts = [scripts.echo_text(i) for i in range(count)]
    shared = wasmtime.Store(raw.engine)
    instance = raw.linker.instantiate(shared, raw.component)

    async def fresh() -> int:
        outputs = [raw.call(text) for text in texts]
        for index, output in enumerate(outputs):
            expect(output, {"text": scripts.echo_reply(index)}, f"raw call {index}")
        return count

    async def reused() -> int:
        outputs = [raw.call(text, shared, instance) for text in texts[:200]]
        last = len(outputs) - 1
        expect(outputs[last], {"text": scripts.echo_reply(last)}, "raw reused call")
        return len(outputs)

    warmup, rounds = int(params.get("warmup", 1)), int(params.get("rounds", 5))
    rates = await timed_rounds(fresh, warmup=warmup, rounds=rounds)
    reused_rates = await timed_rounds(reused, warmup=warmup, rounds=rounds)
    stats = summary(rates)
    return {
        "calls_per_s": stats,
        "call_us": 1e6 / stats["median"],
        "reused_call_us": 1e6 / summary(reused_rates)["median"],
    }


JOBS = {"turn-component": turn_component, "raw-component": raw_component}

"""Telemetry (spec §10): OTEL_* configuration, flow.execute spans for turns and nodes
(captured with the SDK's in-memory exporter), trace ids for components, structured logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from tests.pipeline import EchoEngine, build_host, flow

from greentic_runner.activity import Activity
from greentic_runner.components.invoker import ComponentCall, ExecCtx
from greentic_runner.config import HostConfig, TimerSpec
from greentic_runner.errors import ConfigError
from greentic_runner.flows.context import FlowContext
from greentic_runner.flows.model import Flow, Node
from greentic_runner.host import HostBuilder
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.runtime import TenantRuntime
from greentic_runner.runtime_loader import PackRef
from greentic_runner.storage import InMemorySessionStore, InMemoryStateStore
from greentic_runner.telemetry import (
    SPAN_NAME,
    JsonLogFormatter,
    SpanObserver,
    TelemetryConfig,
    configure_logging,
    configure_telemetry,
    current_trace_id,
    tracer,
    with_trace_id,
)
from greentic_runner.testing import make_pack, write_pack_dir
from greentic_runner.timers import fire_timer


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry = configure_telemetry(exporter=exporter)
    assert telemetry is not None
    yield exporter
    telemetry.shutdown()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "exporter"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, None),
    ],
    ids=["default-off", "endpoint", "traces-endpoint", "console", "none", "sdk-disabled"],
)
def test_spans_are_off_unless_otel_variables_ask(
    environ: dict[str, str], exporter: str | None
) -> None:
    config = TelemetryConfig.from_env(environ)
    assert config.exporter == exporter
    assert config.enabled is (exporter is not None)


def test_the_service_name_defaults_to_the_references() -> None:
    assert TelemetryConfig.from_env({}).service_name == "greentic-runner-host"
    assert TelemetryConfig.from_env({"OTEL_SERVICE_NAME": "edge"}).service_name == "edge"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "unsupported OTEL_TRACES_EXPORTER 'zipkin'"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "unsupported OTEL_EXPORTER_OTLP_PROTOCOL 'grpc' (only http/protobuf)",
        ),
    ],
    ids=["exporter", "grpc"],
)
def test_unsupported_settings_are_config_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TelemetryConfig.from_env(environ)


def test_an_otlp_config_installs_a_batching_otlp_exporter() -> None:
    telemetry = configure_telemetry(TelemetryConfig("otlp", "edge"))
    assert telemetry is not None
    try:
        processors = telemetry.provider._active_span_processor._span_processors
        assert [type(p) for p in processors] == [BatchSpanProcessor]
        assert isinstance(processors[0].span_exporter, OTLPSpanExporter)  # type: ignore[attr-defined]
        assert telemetry.provider.resource.attributes["service.name"] == "edge"
        assert tracer().start_span("probe").is_recording()
    finally:
        telemetry.shutdown()
    assert not tracer().start_span("probe").is_recording()


def test_a_disabled_config_installs_nothing() -> None:
    assert configure_telemetry(TelemetryConfig(None)) is None
    assert not tracer().start_span("probe").is_recording()


# -- turn spans ------------------------------------------------------------------------------


class NoComponents:
    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        return {"directive": "Continue"}


def pipeline_host() -> Any:
    packs = {"main": make_pack("app", [flow("chat")])}
    return build_host(packs, NoComponents())  # type: ignore[arg-type]


async def test_each_turn_has_a_flow_execute_span(spans: InMemorySpanExporter) -> None:
    host = pipeline_host()
    await host.load_pack("demo", "main")
    activity = Activity.text("hi").with_(session_id="s-1")
    await host.handle_activity("demo", activity)
    [span] = spans.get_finished_spans()
    assert span.name == SPAN_NAME == "flow.execute"
    assert attrs(span) == {
        "tenant": "demo",
        "env": "local",
        "pack_id": "app",
        "flow_id": "chat",
        "flow_type": "messaging",
        "action": "messaging",
        "provider": "provider",
        "session": "s-1",
    }


async def test_revision_turns_carry_rollout_and_endpoint_ids(
    spans: InMemorySpanExporter,
) -> None:
    host = pipeline_host()
    await host.load_revision("demo", "dep-1", "bun-1", "rev-1", [PackRef(Path("main"))])
    activity = Activity.text("hi").with_(messaging_endpoint_id="teams-legal")
    await host.handle_activity_for_revision("demo", "dep-1", "bun-1", "rev-1", activity)
    [span] = spans.get_finished_spans()
    assert attrs(span)["deployment_id"] == "dep-1"
    assert attrs(span)["bundle_id"] == "bun-1"
    assert attrs(span)["revision_id"] == "rev-1"
    assert attrs(span)["messaging_endpoint_id"] == "teams-legal"


async def test_a_timer_fire_is_a_turn_span(spans: InMemorySpanExporter) -> None:
    packs = [make_pack("app", [flow("tick", "timer")])]
    config = HostConfig(tenant="demo", timers=(TimerSpec("tick", "@daily", "nightly"),))
    runtime = TenantRuntime(
        tenant="demo",
        config=config,
        packs=packs,
        engine=EchoEngine(packs),
        session_store=InMemorySessionStore(),
        state_store=InMemoryStateStore(),
        invoker=NoComponents(),  # type: ignore[arg-type]
        secrets=None,  # type: ignore[arg-type]
    )
    at = datetime(2025, 1, 2, tzinfo=UTC)
    assert await fire_timer(runtime, config.timers[0], at, claim_ttl=60) == "ran"
    [span] = spans.get_finished_spans()
    assert attrs(span)["flow_id"] == "tick"
    assert attrs(span)["action"] == "timer"
    assert attrs(span)["session"] == "nightly"


# -- node spans and trace ids, with the real engine -------------------------------------------


FLOW = """id: chat
type: messaging
schema_version: 2
nodes:
  lookup:
    component.exec:
      component: weather_api
      operation: forecast
      input:
        q: "{{in.text}}"
    routing:
      - to: answer
  answer:
    templating.handlebars:
      text: "done"
    routing: out
"""


class RecordingInvoker:
    """The component edge: remembers the exec ctx each call carried."""

    def __init__(self, result: Any = None) -> None:
        self.contexts: list[ExecCtx] = []
        self.result = {"summary": "sunny"} if result is None else result

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        self.contexts.append(call.ctx)
        return self.result


async def real_host(tmp_path: Path, invoker: RecordingInvoker) -> Any:
    pack_dir = write_pack_dir(tmp_path / "pack", "app", {"chat": FLOW})
    builder = HostBuilder().with_config(HostConfig(tenant="demo"))
    host = builder.with_component_invoker(invoker).build()  # type: ignore[arg-type]
    await host.load_pack("demo", pack_dir)
    return host


async def test_each_node_has_a_child_span_and_components_see_its_trace_id(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    invoker = RecordingInvoker()
    host = await real_host(tmp_path, invoker)
    await host.handle_activity("demo", Activity.text("Paris"))
    finished = spans.get_finished_spans()
    by_node = {attrs(s).get("node_id"): s for s in finished}
    turn, lookup, answer = by_node[None], by_node["lookup"], by_node["answer"]
    assert len(finished) == 3
    assert {attrs(lookup)[k] for k in ("component", "tool")} == {"weather_api"}
    assert attrs(lookup)["action"] == "forecast"
    assert attrs(answer)["component"] == "templating.handlebars"
    for node in (lookup, answer):
        assert node.parent is not None and turn.context is not None
        assert node.parent.span_id == turn.context.span_id
        assert attrs(node)["tenant"] == "demo" and attrs(node)["flow_id"] == "chat"
    assert lookup.context is not None
    assert [c.trace_id for c in invoker.contexts] == [format(lookup.context.trace_id, "032x")]
    await host.stop()


async def test_a_failing_node_span_records_the_error(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    host = await real_host(tmp_path, RecordingInvoker({"ok": False, "error": {"code": "x"}}))
    with pytest.raises(Exception, match="lookup"):
        await host.handle_activity("demo", Activity.text("Paris"))
    by_node = {attrs(s).get("node_id"): s for s in spans.get_finished_spans()}
    assert by_node["lookup"].status.status_code is StatusCode.ERROR
    assert by_node[None].status.status_code is StatusCode.ERROR
    assert "answer" not in by_node
    await host.stop()


async def test_without_telemetry_components_get_no_trace_id(tmp_path: Path) -> None:
    invoker = RecordingInvoker()
    host = await real_host(tmp_path, invoker)
    await host.handle_activity("demo", Activity.text("Paris"))
    assert [c.trace_id for c in invoker.contexts] == [None]
    await host.stop()


@dataclass
class _Nodes:
    flow: Flow
    outer: Node
    inner: Node


def nodes() -> _Nodes:
    outer, inner = Node("outer", "flow.call"), Node("inner", "emit.log")
    return _Nodes(Flow(id="f", flow_type="messaging", nodes={"outer": outer}), outer, inner)


async def test_the_observer_nests_and_closes_every_span(spans: InMemorySpanExporter) -> None:
    observer, n = SpanObserver(), nodes()
    ctx = FlowContext(tenant="demo", pack_id="app", flow_id="f")
    observer.on_node_start(ctx, n.flow, n.outer, None)
    observer.on_node_start(ctx, n.flow, n.inner, None)
    assert observer.open_spans() == 2
    observer.on_node_error(ctx, n.flow, n.inner, RuntimeError("inner broke"))
    observer.on_node_end(ctx, n.flow, n.outer, None)
    assert observer.open_spans() == 0
    inner, outer = spans.get_finished_spans()
    assert inner.parent is not None and outer.context is not None
    assert inner.parent.span_id == outer.context.span_id
    assert inner.status.status_code is StatusCode.ERROR
    assert outer.status.status_code is StatusCode.UNSET
    assert current_trace_id() is None  # every attached context was detached


def test_with_trace_id_fills_only_a_missing_id(spans: InMemorySpanExporter) -> None:
    bare = ExecCtx(tenant="demo")
    assert with_trace_id(bare) is bare
    with tracer().start_as_current_span("turn") as span:
        expected = format(span.get_span_context().trace_id, "032x")
        assert with_trace_id(bare).trace_id == expected == current_trace_id()
        preset = ExecCtx(tenant="demo", trace_id="abc")
        assert with_trace_id(preset).trace_id == "abc"


# -- structured logs ---------------------------------------------------------------------------


def test_json_logs_carry_the_greentic_fields_and_trace_ids(spans: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = configure_logging({"GREENTIC_LOG_FORMAT": "json"}, stream=stream)
    log = logging.getLogger("greentic_runner.test")
    try:
        with tracer().start_as_current_span("turn") as span:
            log.info(
                "turn %s done",
                "t1",
                extra={"tenant": "demo", "pack": "app", "flow": "chat", "session": "s"},
            )
        try:
            raise ValueError("boom")
        except ValueError:
            log.error("failed", exc_info=True, extra={"node": "n1"})
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "logger", "message", "tenant", "pack", "flow")} == {
        "level": "INFO",
        "logger": "greentic_runner.test",
        "message": "turn t1 done",
        "tenant": "demo",
        "pack": "app",
        "flow": "chat",
    }
    assert first["session"] == "s"
    assert first["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in second and second["node"] == "n1"
    assert "ValueError: boom" in second["exception"]


def test_text_logs_append_the_fields() -> None:
    stream = io.StringIO()
    handler = configure_logging({}, stream=stream)
    try:
        logging.getLogger("greentic_runner.test").warning("hello", extra={"tenant": "demo"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("greentic_runner.test: hello [tenant=demo]")


def test_configuring_twice_keeps_one_handler() -> None:
    root = logging.getLogger()
    first = configure_logging({"GREENTIC_LOG_FORMAT": "json"})
    second = configure_logging({"GREENTIC_LOG_FORMAT": "json"})
    try:
        assert first not in root.handlers and second in root.handlers
        assert isinstance(second.formatter, JsonLogFormatter)
    finally:
        root.removeHandler(second)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GREENTIC_LOG_FORMAT": "xml"}, "unsupported GREENTIC_LOG_FORMAT 'xml'"),
        ({"GREENTIC_LOG_LEVEL": "LOUD"}, "unsupported GREENTIC_LOG_LEVEL 'LOUD'"),
    ],
    ids=["format", "level"],
)
def test_bad_log_settings_are_config_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        configure_logging(environ)

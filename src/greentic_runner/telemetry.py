"""Telemetry: OpenTelemetry spans for turns and nodes, trace ids for components, and
structured logs (spec §10).

Spans are off by default. :func:`configure_telemetry` (usually through
:meth:`TelemetryConfig.from_env`) installs an SDK tracer provider exporting over OTLP/HTTP;
without it spans go to the OpenTelemetry API's global provider, which is a no-op unless the
embedding application configured one. Every turn and every node gets a ``flow.execute`` span
(attributes below); the trace id of the current span is handed to components
(:func:`with_trace_id`).

Logs: :func:`configure_logging` prints one JSON object per record when
``GREENTIC_LOG_FORMAT=json`` (text otherwise), with the record's tenant/pack/flow/node/session
extras and the current trace and span ids.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson
from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, Tracer

from .errors import ConfigError

if TYPE_CHECKING:
    from .components.invoker import ExecCtx
    from .envelope import IngressEnvelope
    from .flows.context import FlowContext
    from .flows.model import Flow, Node

SPAN_NAME = "flow.execute"
DEFAULT_SERVICE_NAME = "greentic-runner-host"
INSTRUMENTATION = "greentic_runner"
LOG_FIELDS = ("tenant", "pack", "flow", "node", "session", "schedule_id", "revision")


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """What to export. ``exporter`` is ``otlp``, ``console`` or None (spans off)."""

    exporter: str | None = None
    service_name: str = DEFAULT_SERVICE_NAME

    @property
    def enabled(self) -> bool:
        return self.exporter is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TelemetryConfig:
        """Spans are on when ``OTEL_TRACES_EXPORTER`` is ``otlp``/``console`` or an OTLP
        endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``/``…_TRACES_ENDPOINT``); off when
        ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Raises ConfigError for an
        unknown exporter or the gRPC protocol (only ``http/protobuf`` is shipped)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return (env.get(name) or "").strip()

        service = get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
        if get("OTEL_SDK_DISABLED").lower() == "true":
            return cls(None, service)
        exporter = get("OTEL_TRACES_EXPORTER").lower()
        endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if not exporter:
            exporter = "otlp" if endpoint else "none"
        if exporter == "none":
            return cls(None, service)
        if exporter not in ("otlp", "console"):
            raise ConfigError(
                f"unsupported OTEL_TRACES_EXPORTER '{exporter}' (expected otlp, console or none)"
            )
        protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or get("OTEL_EXPORTER_OTLP_PROTOCOL")
        if exporter == "otlp" and protocol and protocol != "http/protobuf":
            raise ConfigError(
                f"unsupported OTEL_EXPORTER_OTLP_PROTOCOL '{protocol}' (only http/protobuf)"
            )
        return cls(exporter, service)


class Telemetry:
    """An installed tracer provider; :meth:`shutdown` flushes and uninstalls it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def shutdown(self) -> None:
        self.provider.shutdown()
        if _state.provider is self.provider:
            use_tracer_provider(None)


def configure_telemetry(
    config: TelemetryConfig | None = None,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = False,
) -> Telemetry | None:
    """Install a tracer provider for greentic-runner's spans.

    ``exporter`` (tests: the SDK's ``InMemorySpanExporter``) is used as-is with a synchronous
    processor; otherwise ``config`` (default: from the environment) picks one, and None is
    returned when spans are off. ``set_global`` also makes it OpenTelemetry's global provider
    (allowed once per process)."""
    if exporter is not None:
        service = config.service_name if config else DEFAULT_SERVICE_NAME
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        config = config or TelemetryConfig.from_env()
        if not config.enabled:
            return None
        provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
        provider.add_span_processor(BatchSpanProcessor(_exporter(config)))
    use_tracer_provider(provider)
    if set_global:
        trace.set_tracer_provider(provider)
    return Telemetry(provider)


def _exporter(config: TelemetryConfig) -> SpanExporter:
    if config.exporter == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) itself.
    return OTLPSpanExporter()


@dataclass(slots=True)
class _State:
    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_state = _State()


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Send greentic-runner's spans to ``provider`` (None: back to the global provider)."""
    _state.provider = provider
    _state.tracer = provider.get_tracer(INSTRUMENTATION) if provider else None


def tracer() -> Tracer:
    """The tracer for greentic-runner's spans."""
    return _state.tracer or trace.get_tracer(INSTRUMENTATION)


# -- spans ----------------------------------------------------------------------------------------


class RolloutLike(Protocol):
    """The rollout ids of a revision runtime (``runtime.RolloutIds`` fits)."""

    @property
    def deployment_id(self) -> str | None: ...

    @property
    def bundle_id(self) -> str | None: ...

    @property
    def revision_id(self) -> str | None: ...

    @property
    def customer_id(self) -> str | None: ...


def turn_attributes(
    envelope: IngressEnvelope, rollout: RolloutLike | None = None
) -> dict[str, str]:
    """The attributes of a turn's span: who, which flow, which rollout, which endpoint."""
    attrs = {
        "tenant": envelope.tenant,
        "env": envelope.ctx_env(),
        "pack_id": envelope.pack_id,
        "flow_id": envelope.flow_id,
        "flow_type": envelope.flow_type,
        "action": envelope.action,
        "provider": envelope.provider,
        "session": envelope.session_hint,
        "messaging_endpoint_id": envelope.messaging_endpoint_id,
    }
    attrs.update(_rollout_attributes(rollout))
    return {key: value for key, value in attrs.items() if value is not None}


def tracing_active() -> bool:
    """False while no tracer provider is installed: every span would be a no-op, and making
    them costs a fifth of a short turn, so the hot path skips them."""
    if _state.tracer is not None:
        return True
    # get_tracer_provider() consults the environment on every call; the API module's global
    # is the cheap answer to "did anyone install a provider?" (public check as the fallback).
    installed = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
    if installed is not _UNKNOWN:
        return installed is not None
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


_UNKNOWN = object()


@contextmanager
def turn_span(envelope: IngressEnvelope, rollout: RolloutLike | None = None) -> Iterator[Span]:
    """A ``flow.execute`` span around one turn, current for its duration (node spans and
    component trace ids hang off it). An escaping exception is recorded on the span."""
    if not tracing_active():
        yield trace.INVALID_SPAN
        return
    with tracer().start_as_current_span(
        SPAN_NAME, attributes=turn_attributes(envelope, rollout)
    ) as span:
        yield span


def node_attributes(
    base: Mapping[str, str], node_id: str, component: str, action: str | None
) -> dict[str, str]:
    """A node span's attributes: the turn's, plus node, component (``tool`` in the reference)
    and operation."""
    attrs = dict(base)
    attrs.update({"node_id": node_id, "component": component, "tool": component})
    if action is not None:
        attrs["action"] = action
    return attrs


class SpanObserver:
    """A flow observer (``flows.engine.FlowObserver``) that opens a ``flow.execute`` span per
    node, as a child of the current span (the turn's, or the calling node's for sub-flows),
    current while the node runs so component calls see its trace id.

    One observer serves every concurrent turn of an engine: the open spans are kept per
    asyncio task, and the engine starts and ends nodes in strict nesting order per task."""

    def __init__(self, rollout: RolloutLike | None = None) -> None:
        self.rollout = rollout
        self._open: dict[object, list[tuple[Span, Token[Context] | None]]] = {}

    # The engine skips this observer's hooks for a node while tracing is off (the function
    # itself: the engine calls it once per node).
    active = staticmethod(tracing_active)

    def on_node_start(self, ctx: FlowContext, flow: Flow, node: Node, payload: Any) -> None:
        if not tracing_active():
            return
        attrs = node_attributes(
            flow_attributes(ctx, self.rollout),
            node.id,
            node.component_ref or node.component,
            node.operation or _payload_operation(payload) or ctx.action,
        )
        span = tracer().start_span(SPAN_NAME, attributes=attrs)
        # A no-op span (telemetry off) need not become current: nothing would read it.
        token = context.attach(trace.set_span_in_context(span)) if span.is_recording() else None
        self._open.setdefault(_task_key(), []).append((span, token))

    def on_node_end(self, ctx: FlowContext, flow: Flow, node: Node, output: Any) -> None:
        self._close(None)

    def on_node_error(self, ctx: FlowContext, flow: Flow, node: Node, error: BaseException) -> None:
        self._close(error)

    def _close(self, error: BaseException | None) -> None:
        if not self._open:  # tracing off: nothing was opened
            return
        key = _task_key()
        stack = self._open.get(key)
        if not stack:
            return
        span, token = stack.pop()
        if not stack:
            del self._open[key]
        if error is not None:
            span.record_exception(error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))
        if token is not None:
            context.detach(token)
        span.end()

    def open_spans(self) -> int:
        """Spans started and not yet ended (0 between turns)."""
        return sum(len(stack) for stack in self._open.values())


def _payload_operation(payload: Any) -> str | None:
    """``component.exec`` nodes name their operation in the rendered payload."""
    if isinstance(payload, dict):
        value = payload.get("operation", payload.get("op"))
        if isinstance(value, str) and value.strip():
            return value
    return None


def _task_key() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def flow_attributes(ctx: FlowContext, rollout: RolloutLike | None = None) -> dict[str, str]:
    """The turn-level attributes as the engine's flow context knows them."""
    attrs = {
        "tenant": ctx.tenant,
        "env": ctx.env,
        "pack_id": ctx.pack_id,
        "flow_id": ctx.flow_id,
        "flow_type": ctx.flow_type,
        "provider": ctx.provider_id,
        "session": ctx.session_id,
        "messaging_endpoint_id": ctx.messaging_endpoint_id,
    }
    attrs.update(_rollout_attributes(rollout))
    return {key: value for key, value in attrs.items() if value is not None}


def _rollout_attributes(rollout: RolloutLike | None) -> dict[str, str | None]:
    if rollout is None:
        return {}
    return {
        "deployment_id": rollout.deployment_id,
        "bundle_id": rollout.bundle_id,
        "revision_id": rollout.revision_id,
        "customer_id": rollout.customer_id,
    }


def current_trace_id() -> str | None:
    """The current span's trace id as 32 lowercase hex digits, or None outside a span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def with_trace_id(ctx: ExecCtx) -> ExecCtx:
    """``ctx`` with the current trace id filled in (an id the caller already set wins)."""
    if ctx.trace_id is not None:
        return ctx
    trace_id = current_trace_id()
    return ctx if trace_id is None else replace(ctx, trace_id=trace_id)


# -- structured logs ----------------------------------------------------------------------------


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the greentic fields present
    on the record (``extra=``), the current trace/span ids, and the exception text if any."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            doc["trace_id"] = format(context.trace_id, "032x")
            doc["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class TextLogFormatter(logging.Formatter):
    """``time LEVEL logger: message [tenant=… flow=…]`` for humans."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [
            f"{name}={getattr(record, name)}"
            for name in LOG_FIELDS
            if getattr(record, name, None) is not None
        ]
        return f"{text} [{' '.join(fields)}]" if fields else text


def configure_logging(
    environ: Mapping[str, str] | None = None,
    *,
    level: int | str | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install one handler on the root logger (replacing one installed earlier by this
    function): JSON when ``GREENTIC_LOG_FORMAT=json``, text otherwise. The level is
    ``level``, else ``GREENTIC_LOG_LEVEL``, else INFO. Raises ConfigError for an unknown
    format or level."""
    env = os.environ if environ is None else environ
    style = (env.get("GREENTIC_LOG_FORMAT") or "text").strip().lower()
    if style not in ("json", "text"):
        raise ConfigError(f"unsupported GREENTIC_LOG_FORMAT '{style}' (expected json or text)")
    wanted = level if level is not None else (env.get("GREENTIC_LOG_LEVEL") or "INFO").strip()
    resolved = logging.getLevelName(wanted.upper()) if isinstance(wanted, str) else wanted
    if not isinstance(resolved, int):
        raise ConfigError(f"unsupported GREENTIC_LOG_LEVEL '{wanted}'")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter() if style == "json" else TextLogFormatter())
    handler.set_name("greentic-runner")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "greentic-runner"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(resolved)
    return handler

"""Canned component and provider answers from the bindings ``mocks:`` section.

Lets flows that call components run before (or without) WebAssembly::

    mocks:
      components:
        weather_api:                     # component id (ComponentCall.component_ref)
          forecast_weather:              # operation ("*" matches any operation)
            - when: {q: London}          # optional: the input must contain these values
              output: {temp_c: 11}
            - output: {temp_c: 20}       # no `when`: the default; the first match wins
          ping:
            output: pong                 # one case may be written without the list
          broken:
            error: {code: upstream_down, message: "weather service down"}
      providers:
        messaging.telegram.bot:          # provider_id or provider_type
          ops:
            send: [{output: {ok: true}}]
          identify: tg-main              # provider id; `false` = NoMatch
          describe: {version: 1, sources: [{header: {name: x-telegram-bot-api-secret-token}}]}

``when`` keys are dotted paths into the input (``customer.id``); a mapping value matches a
mapping with at least those entries. ``error`` answers the way a failing component does
(``{"ok": false, "error": {code, message, retryable}}``), so the engine reports
"component … failed". A call no case answers goes to ``fallback``; without one it fails
with a ComponentError naming the component, the operation and its source reference.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ComponentError, ConfigError
from ..packs.providers import NO_MATCH, UNSUPPORTED, IdentifyHint, IdentifyOutcome
from .invoker import ComponentCall, ComponentInvoker, ExecCtx

if TYPE_CHECKING:
    from ..packs.pack import PackRuntime
    from ..packs.providers import ProviderBinding

logger = logging.getLogger(__name__)

ANY_OPERATION = "*"
_CASE_KEYS = frozenset({"when", "output", "error"})


@dataclass(frozen=True, slots=True)
class MockCase:
    """One canned answer: ``output`` (or ``error``) when the input matches ``when``."""

    output: Any = None
    error: dict[str, Any] | None = None
    when: dict[str, Any] | None = None

    def matches(self, value: Any) -> bool:
        return self.when is None or all(
            _contains(_lookup(value, path), expected) for path, expected in self.when.items()
        )

    def answer(self) -> Any:
        if self.error is not None:
            return {"ok": False, "error": copy.deepcopy(self.error)}
        return copy.deepcopy(self.output)  # callers may mutate what they get


Cases = dict[str, tuple[MockCase, ...]]  # operation -> cases


@dataclass(frozen=True, slots=True)
class ProviderMock:
    ops: Cases = field(default_factory=dict)
    identify: IdentifyOutcome | None = None
    describe: IdentifyHint | None = None


@dataclass(frozen=True, slots=True)
class MockTable:
    """The parsed ``mocks:`` section."""

    components: dict[str, Cases] = field(default_factory=dict)
    providers: dict[str, ProviderMock] = field(default_factory=dict)


def parse_mocks(raw: Any) -> MockTable:
    """Validate a ``mocks:`` section. Raises ConfigError naming the offending key path."""
    if raw is None:
        return MockTable()
    table = _mapping(raw, "mocks")
    unknown = sorted(set(table) - {"components", "providers"})
    if unknown:
        raise ConfigError(f"`mocks.{unknown[0]}` is not a mocks section (components, providers)")
    components = {
        name: _cases_by_op(ops, f"mocks.components.{name}")
        for name, ops in _section(table, "components", "mocks.components").items()
    }
    providers = {
        name: _provider(spec, f"mocks.providers.{name}")
        for name, spec in _section(table, "providers", "mocks.providers").items()
    }
    return MockTable(components, providers)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"`{where}` must be a mapping")
    return value


def _section(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """An optional sub-mapping: absent or null is empty, anything else must be a mapping."""
    value = parent.get(key)
    return {} if value is None else _mapping(value, where)


def _cases_by_op(raw: Any, where: str) -> Cases:
    return {op: _cases(value, f"{where}.{op}") for op, value in _mapping(raw, where).items()}


def _cases(raw: Any, where: str) -> tuple[MockCase, ...]:
    items = raw if isinstance(raw, list) else [raw]
    cases = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if isinstance(raw, list) else where
        case = _mapping(item, at)
        unknown = sorted(set(case) - _CASE_KEYS)
        if unknown or ("output" in case) == ("error" in case):
            raise ConfigError(f"`{at}` needs exactly one of `output` or `error` (and maybe `when`)")
        when = case.get("when")
        if when is not None:
            _mapping(when, f"{at}.when")
        cases.append(MockCase(case.get("output"), _error(case.get("error"), at), when))
    return tuple(cases)


def _error(raw: Any, at: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return {"code": "mock_error", "message": raw, "retryable": False}
    error = _mapping(raw, f"{at}.error")
    return {
        "code": str(error.get("code", "mock_error")),
        "message": str(error.get("message", "mocked component error")),
        "retryable": bool(error.get("retryable", False)),
        **({"backoff_ms": error["backoff_ms"]} if "backoff_ms" in error else {}),
    }


def _provider(raw: Any, where: str) -> ProviderMock:
    spec = _mapping(raw, where)
    unknown = sorted(set(spec) - {"ops", "identify", "describe"})
    if unknown:
        raise ConfigError(f"`{where}.{unknown[0]}` is unknown (expected ops, identify, describe)")
    identify = None
    if "identify" in spec:
        value = spec["identify"]
        if value is False:
            identify = NO_MATCH
        elif isinstance(value, str) and value.strip():
            identify = IdentifyOutcome.identified(value)
        else:
            raise ConfigError(f"`{where}.identify` must be a provider id or false")
    describe = None
    if spec.get("describe") is not None:
        hint = _mapping(spec["describe"], f"{where}.describe")
        sources = hint.get("sources") or []
        if hint.get("version") != 1 or not isinstance(sources, list):
            raise ConfigError(f"`{where}.describe` must be {{version: 1, sources: [...]}}")
        headers = tuple(
            str(source["header"]["name"]).lower()
            for source in sources
            if isinstance(source, dict)
            and isinstance(source.get("header"), dict)
            and "name" in source["header"]
        )
        describe = IdentifyHint(version=1, headers=headers, raw=hint)
    ops = _cases_by_op(_section(spec, "ops", f"{where}.ops"), f"{where}.ops")
    return ProviderMock(ops, identify, describe)


_MISSING = object()


def _lookup(value: Any, path: str) -> Any:
    """``a.b.0`` into nested mappings and lists; a private sentinel when absent."""
    if isinstance(value, dict) and path in value:
        return value[path]
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _contains(actual: Any, expected: Any) -> bool:
    """``expected`` mappings match supersets; JSON's true is not 1 (Python's is)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    return bool(actual == expected)


def _pick(cases: Cases, operation: str, value: Any) -> MockCase | None:
    for case in (*cases.get(operation, ()), *cases.get(ANY_OPERATION, ())):
        if case.matches(value):
            return case
    return None


class MockInvoker:
    """A ComponentInvoker answering from the bindings ``mocks:`` section.

    ``mocks`` is the raw section (or a parsed MockTable); ConfigError when it is invalid.
    """

    def __init__(self, mocks: Any, fallback: ComponentInvoker | None = None) -> None:
        self.table = mocks if isinstance(mocks, MockTable) else parse_mocks(mocks)
        self.fallback = fallback

    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        """The first matching case's answer, else the fallback's, else ComponentError."""
        cases = self.table.components.get(call.component_ref)
        case = _pick(cases, call.operation, call.input) if cases else None
        if case is not None:
            logger.debug("mock answers %s.%s", call.component_ref, call.operation)
            return case.answer()
        if self.fallback is not None:
            return await self.fallback.invoke(pack, call)
        source = _source(pack, call.component_ref)
        what = f"component `{call.component_ref}` operation `{call.operation}` (source: {source})"
        if cases is not None:
            raise ComponentError(
                f"no mock case of {what} matches its input in pack {pack.pack_id}; "
                "add a case without `when` as the default"
            )
        raise ComponentError(
            f"{what} is not available in pack {pack.pack_id}: it is not mocked in the "
            "bindings `mocks:` section and no component runtime is configured"
        )

    def _provider(self, binding: ProviderBinding) -> ProviderMock | None:
        for key in (binding.provider_id, binding.provider_type):
            if key is not None and key in self.table.providers:
                return self.table.providers[key]
        return None

    async def invoke_provider(
        self, pack: PackRuntime, binding: ProviderBinding, op: str, input: bytes, ctx: ExecCtx
    ) -> Any:
        """A mocked provider op (``when`` matches the JSON input), else the fallback."""
        mock = self._provider(binding)
        try:
            value = json.loads(input) if input else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            value = None  # only cases without `when` can answer a non-JSON input
        case = _pick(mock.ops, op, value) if mock else None
        if case is not None:
            return case.answer()
        if self.fallback is not None:
            return await self.fallback.invoke_provider(pack, binding, op, input, ctx)
        raise ComponentError(
            f"provider `{binding.provider_type}` op `{op}` (component `{binding.component_ref}`, "
            f"pack {pack.pack_id}) is not mocked and no component runtime is configured"
        )

    async def identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding, payload: bytes
    ) -> IdentifyOutcome:
        mock = self._provider(binding)
        if mock is not None and mock.identify is not None:
            return mock.identify
        if self.fallback is not None:
            return await self.fallback.identify_instance(pack, binding, payload)
        return UNSUPPORTED

    async def describe_identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding
    ) -> IdentifyHint | None:
        mock = self._provider(binding)
        if mock is not None and mock.describe is not None:
            return mock.describe
        if self.fallback is not None:
            return await self.fallback.describe_identify_instance(pack, binding)
        return None


def _source(pack: PackRuntime, component_ref: str) -> str:
    spec = pack.components.get(component_ref)
    if spec is not None and (spec.source_ref or spec.wasm_path):
        return str(spec.source_ref or spec.wasm_path)
    return "unknown: not declared by the pack"

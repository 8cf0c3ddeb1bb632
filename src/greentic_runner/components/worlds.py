"""Choosing adapters from a component's real export types (wit-contracts.md §0.2, §6).

A component is reflected once, when it is loaded. For each role (flow node, provider,
identify, describe-identify) the candidate worlds are tried in the reference order and the
first whose export exists *and* whose types an adapter speaks wins; a mismatched export falls
through, as the Rust runner's bindgen attempts do. A component that fills no role, or that
imports an interface the host does not provide, fails to load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from wasmtime import component as cm

from .host_imports import is_provided
from .wit_values import ShapeError
from .world_node import LegacyNode, Node06, NodeAdapter, Runtime06
from .world_provider import DescribeIdentify, Identify, SchemaCore

Candidate = tuple[str, str, Callable[..., Any]]  # (instance, function, adapter builder)

NODE_WORLDS: tuple[Candidate, ...] = (
    ("greentic:component/node@0.6.0", "invoke", Node06.build),
    ("greentic:component/node@0.6.0", "invoke", LegacyNode.build),  # 0.6 shape A
    ("greentic:component/node@0.5.0", "invoke", LegacyNode.build),
    ("greentic:component/node@0.4.0", "invoke", LegacyNode.build),
    ("greentic:component/component-runtime@0.6.0", "run", Runtime06.build),
)
PROVIDER_WORLDS: tuple[Candidate, ...] = tuple(
    (name, "invoke", SchemaCore.build)
    for name in (
        "greentic:provider-schema-core/schema-core-api@1.0.0",
        "greentic:provider-core/schema-core-api@1.0.0",
        "greentic:provider/schema-core-api@1.0.0",
    )
)
IDENTIFY_WORLDS: tuple[Candidate, ...] = (
    (
        "greentic:provider-instance-identity/instance-identity-api@0.1.0",
        "identify-instance",
        Identify.build,
    ),
)
DESCRIBE_WORLDS: tuple[Candidate, ...] = (
    (
        "greentic:provider-instance-identity/instance-identity-describe-api@0.1.0",
        "describe-identify-instance",
        DescribeIdentify.build,
    ),
)


class WorldError(Exception):
    """The component cannot be used: unknown world or unprovided imports."""


@dataclass(frozen=True, slots=True)
class WorldPlan:
    """The adapters a loaded component supports, plus what it exports (for messages)."""

    exports: tuple[str, ...]
    imports: tuple[str, ...]
    node: NodeAdapter | None = None
    provider: SchemaCore | None = None
    identify: Identify | None = None
    describe_identify: DescribeIdentify | None = None
    uses_wasi: bool = False
    rejected: tuple[str, ...] = field(default=())

    def exports_text(self) -> str:
        return ", ".join(self.exports) or "nothing"


def _funcs(item: Any, engine: wasmtime.Engine) -> dict[str, Any] | None:
    if not isinstance(item, cm.ComponentInstanceType):
        return None
    return {name: ext.ty for name, ext in item.exports(engine).items()}


def _pick(
    component: cm.Component,
    exports: dict[str, dict[str, Any] | None],
    candidates: tuple[Candidate, ...],
    rejected: list[str],
) -> Any:
    for world, func_name, build in candidates:
        funcs = exports.get(world)
        if funcs is None:
            continue
        instance_index = component.get_export_index(world)
        func_index = (
            component.get_export_index(func_name, instance_index) if instance_index else None
        )
        if func_index is None:
            rejected.append(f"{world} has no `{func_name}`")
            continue
        try:
            return build(world, funcs, func_index)
        except ShapeError as exc:
            rejected.append(str(exc))
    return None


def plan(component: cm.Component, engine: wasmtime.Engine) -> WorldPlan:
    """Reflect ``component`` and choose its adapters; raises WorldError when unusable."""
    ctype = component.type
    export_items = ctype.exports(engine)
    exports = {name: _funcs(ext.ty, engine) for name, ext in export_items.items()}
    import_items = ctype.imports(engine)
    missing = []
    for name, ext in import_items.items():
        funcs = _funcs(ext.ty, engine)
        has_funcs = funcs is None or any(isinstance(t, cm.FuncType) for t in funcs.values())
        if has_funcs and not is_provided(name):
            missing.append(name)
    if missing:
        raise WorldError(
            f"it imports {', '.join(sorted(missing))}, which this host does not provide"
        )
    rejected: list[str] = []
    result = WorldPlan(
        exports=tuple(sorted(n for n in exports if n != "exports")) or tuple(sorted(exports)),
        imports=tuple(sorted(import_items)),
        node=_pick(component, exports, NODE_WORLDS, rejected),
        provider=_pick(component, exports, PROVIDER_WORLDS, rejected),
        identify=_pick(component, exports, IDENTIFY_WORLDS, rejected),
        describe_identify=_pick(component, exports, DESCRIBE_WORLDS, rejected),
        uses_wasi=any(name.startswith("wasi:") for name in import_items),
        rejected=tuple(rejected),
    )
    if not (result.node or result.provider or result.identify or result.describe_identify):
        detail = f" ({'; '.join(rejected)})" if rejected else ""
        raise WorldError(
            "it exports none of the supported worlds (node@0.6.0, node@0.5.0, node@0.4.0, "
            "component-runtime@0.6.0, provider schema-core@1.0.0, instance-identity@0.1.0); "
            f"it exports: {result.exports_text()}{detail}"
        )
    return result

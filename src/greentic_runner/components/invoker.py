"""The ComponentInvoker protocol: the one call path for mocks and WebAssembly.

Node calls return JSON values (spec §2.3: an empty body is ``null``; a ``node-error`` becomes
``{"ok": false, "error": {...}}``). Provider calls return the provider's JSON verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..packs.pack import PackRuntime
    from ..packs.providers import IdentifyHint, IdentifyOutcome, ProviderBinding


@dataclass(frozen=True, slots=True)
class ExecCtx:
    """The execution context a component sees (WIT ``exec-ctx`` / ``tenant-ctx``)."""

    tenant: str
    env: str = "local"
    team: str | None = None
    user: str | None = None
    trace_id: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None
    deadline_unix_ms: int | None = None
    attempt: int = 1
    i18n_id: str | None = None
    flow_id: str | None = None
    node_id: str | None = None
    session_id: str | None = None
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class ComponentCall:
    component_ref: str
    operation: str
    input: Any
    ctx: ExecCtx
    config: Any = None


class ComponentInvoker(Protocol):
    async def invoke(self, pack: PackRuntime, call: ComponentCall) -> Any:
        """Run ``call.operation`` of ``call.component_ref`` from ``pack``; returns JSON.

        Raises ComponentError naming tenant, pack, component, operation and cause."""
        ...

    async def invoke_provider(
        self, pack: PackRuntime, binding: ProviderBinding, op: str, input: bytes, ctx: ExecCtx
    ) -> Any:
        """Call the provider's schema-core ``invoke(op, input)``; returns its JSON result."""
        ...

    async def identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding, payload: bytes
    ) -> IdentifyOutcome:
        """Run the identify-instance probe; Unsupported when the component lacks it."""
        ...

    async def describe_identify_instance(
        self, pack: PackRuntime, binding: ProviderBinding
    ) -> IdentifyHint | None:
        """The component's identify hint, or None (missing export, malformed, wrong version)."""
        ...

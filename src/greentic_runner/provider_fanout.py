"""Provider fan-out across a revision's packs: identify, describe, invoke (spec §7.3, §7.4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from .components.invoker import ExecCtx
from .errors import ProviderError, RunnerError
from .packs.pack import PackRuntime
from .packs.providers import (
    UNSUPPORTED,
    IdentifyHint,
    IdentifyOutcome,
    ProviderBinding,
    ProviderRegistry,
)
from .runtime import TenantRuntime


async def identify_pack(
    runtime: TenantRuntime,
    pack: PackRuntime,
    provider_types: Sequence[str],
    payload_for: Any,
) -> dict[str, IdentifyOutcome]:
    """Probe one pack; ``payload_for(binding)`` builds the opaque payload bytes."""
    registry = ProviderRegistry.for_pack(pack)
    outcomes: dict[str, IdentifyOutcome] = {}
    for provider_type in provider_types:
        binding = registry.try_resolve(provider_type) if registry else None
        if binding is None:
            outcomes[provider_type] = UNSUPPORTED
            continue
        payload = await payload_for(pack, binding)
        outcomes[provider_type] = await runtime.invoker.identify_instance(pack, binding, payload)
    return outcomes


async def identify_across_packs(
    runtime: TenantRuntime, provider_types: Sequence[str], payload_for: Any
) -> dict[str, IdentifyOutcome]:
    """Merge per-pack outcomes with Identified > NoMatch > Unsupported; stop when all match."""
    merged = {provider_type: UNSUPPORTED for provider_type in provider_types}
    for pack in runtime.packs:
        remaining = [t for t in provider_types if not merged[t].is_identified]
        if not remaining:
            break
        probe = await identify_pack(runtime, pack, remaining, payload_for)
        for provider_type, outcome in probe.items():
            merged[provider_type] = merged[provider_type].merge(outcome)
    return merged


async def identify_hint(
    runtime: TenantRuntime, pack: PackRuntime, binding: ProviderBinding
) -> IdentifyHint | None:
    """The component's describe hint, probed once per component for the pack's lifetime."""
    if binding.component_ref not in pack.identify_hints:
        try:
            hint = await runtime.invoker.describe_identify_instance(pack, binding)
        except RunnerError:  # a failing probe means "no hint", cached like one
            hint = None
        pack.identify_hints[binding.component_ref] = hint
    cached: IdentifyHint | None = pack.identify_hints[binding.component_ref]
    return cached


def scoped_payload(
    hint: IdentifyHint | None, headers: Sequence[tuple[str, str]], body: Any
) -> bytes:
    """A hinted component sees only the headers it declared (case-insensitive)."""
    if hint is not None:
        wanted = {name.lower() for name in hint.headers}
        headers = [(name, value) for name, value in headers if name.lower() in wanted]
    doc = {"headers": [{"name": n, "value": v} for n, v in headers], "body": body}
    return orjson.dumps(doc)


async def describe_across_packs(
    runtime: TenantRuntime, provider_types: Sequence[str]
) -> dict[str, IdentifyHint | None]:
    merged: dict[str, IdentifyHint | None] = {t: None for t in provider_types}
    for pack in runtime.packs:
        remaining = [t for t in provider_types if merged[t] is None]
        if not remaining:
            break
        registry = ProviderRegistry.for_pack(pack)
        if registry is None:
            continue
        for provider_type in remaining:
            binding = registry.try_resolve(provider_type)
            if binding is not None:
                merged[provider_type] = await identify_hint(runtime, pack, binding)
    return merged


async def invoke_provider(
    runtime: TenantRuntime,
    revision_label: str,
    provider_type: str,
    op: str,
    input_json: bytes,
    correlation_id: str | None = None,
    trace_id: str | None = None,
) -> Any:
    """Call ``op`` on the one pack that binds ``provider_type``; fail closed otherwise."""
    matched: tuple[PackRuntime, ProviderBinding, tuple[str, ...]] | None = None
    for pack in runtime.packs:
        registry = ProviderRegistry.for_pack(pack)
        resolved = registry.try_resolve_with_ops(provider_type) if registry else None
        if resolved is None:
            continue
        if matched is not None:
            raise ProviderError(
                f"ambiguous provider_type `{provider_type}` in revision ({revision_label}): "
                "multiple packs bind the same type; pack manifests must declare each "
                "provider_type at most once across main + overlays"
            )
        matched = (pack, *resolved)
    if matched is None:
        raise ProviderError(
            f"no pack in revision binds provider_type `{provider_type}` ({revision_label})"
        )
    pack, binding, ops = matched
    if op not in ops:
        declared = "[" + ", ".join(f'"{d}"' for d in ops) + "]"
        raise ProviderError(
            f"op `{op}` is not declared for provider_type `{provider_type}` in revision "
            f"({revision_label}); declared ops: {declared}"
        )
    ctx = ExecCtx(
        tenant=runtime.tenant,
        trace_id=trace_id,
        correlation_id=correlation_id,
        idempotency_key=correlation_id,
        attempt=1,
        flow_id=f"provider-webhook/{provider_type}",
    )
    return await runtime.invoker.invoke_provider(pack, binding, op, input_json, ctx)

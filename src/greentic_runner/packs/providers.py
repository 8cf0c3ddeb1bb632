"""Provider declarations, bindings and identify outcomes (spec §7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROVIDER_EXTENSION = "greentic.provider-extension.v1"


@dataclass(frozen=True, slots=True)
class ProviderRuntime:
    component_ref: str
    export: str
    world: str


@dataclass(frozen=True, slots=True)
class ProviderDecl:
    provider_type: str
    runtime: ProviderRuntime
    capabilities: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    config_schema_ref: str | None = None
    state_schema_ref: str | None = None
    docs_ref: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderBinding:
    """A resolved provider: which component of which pack serves it."""

    provider_type: str
    component_ref: str
    export: str
    world: str
    provider_id: str | None = None
    config_json: Any = None
    pack_ref: str | None = None


@dataclass(frozen=True, slots=True)
class IdentifyOutcome:
    """Result of an identify-instance probe, ordered Identified > NoMatch > Unsupported."""

    kind: str  # "identified" | "no_match" | "unsupported"
    provider_id: str | None = None

    _RANK = {"unsupported": 0, "no_match": 1, "identified": 2}  # noqa: RUF012

    @classmethod
    def identified(cls, provider_id: str) -> IdentifyOutcome:
        return cls("identified", provider_id)

    @property
    def is_identified(self) -> bool:
        return self.kind == "identified"

    def merge(self, other: IdentifyOutcome) -> IdentifyOutcome:
        """The lattice join: a first Identified is never replaced; NoMatch beats Unsupported."""
        if self.is_identified:
            return self
        return other if self._RANK[other.kind] > self._RANK[self.kind] else self


UNSUPPORTED = IdentifyOutcome("unsupported")
NO_MATCH = IdentifyOutcome("no_match")


@dataclass(frozen=True, slots=True)
class IdentifyHint:
    """A component's describe-identify-instance answer: which headers it needs."""

    version: int
    headers: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


def _decl_from_json(raw: Any) -> ProviderDecl:
    if not isinstance(raw, dict):
        raise ValueError("declaration must be an object")
    provider_type = raw.get("provider_type")
    runtime = raw.get("runtime")
    if not isinstance(provider_type, str) or not provider_type.strip():
        raise ValueError("provider_type must be a non-empty string")
    if not isinstance(runtime, dict) or not all(
        isinstance(runtime.get(name), str) and runtime[name].strip()
        for name in ("component_ref", "export", "world")
    ):
        raise ValueError(f"provider `{provider_type}` runtime needs component_ref, export, world")
    return ProviderDecl(
        provider_type=provider_type,
        runtime=ProviderRuntime(runtime["component_ref"], runtime["export"], runtime["world"]),
        capabilities=tuple(str(c) for c in raw.get("capabilities") or ()),
        ops=tuple(str(op) for op in raw.get("ops") or ()),
        config_schema_ref=raw.get("config_schema_ref"),
        state_schema_ref=raw.get("state_schema_ref"),
        docs_ref=raw.get("docs_ref"),
    )


def parse_provider_extension(extension: Any) -> list[ProviderDecl]:
    """Validate and parse ``greentic.provider-extension.v1`` (inline form)."""
    from ..errors import ProviderError

    inline = extension.get("inline", extension) if isinstance(extension, dict) else None
    providers = inline.get("providers") if isinstance(inline, dict) else None
    if not isinstance(providers, list):
        raise ProviderError("provider extension inline failed validation: `providers` list missing")
    try:
        decls = [_decl_from_json(raw) for raw in providers]
    except ValueError as exc:
        raise ProviderError(f"provider extension inline failed validation: {exc}") from exc
    types = [decl.provider_type for decl in decls]
    duplicates = sorted({t for t in types if types.count(t) > 1})
    if duplicates:
        raise ProviderError(
            f"provider extension inline failed validation: duplicate provider_type {duplicates}"
        )
    return decls


@dataclass(frozen=True, slots=True)
class ProviderRegistry:
    """The providers one pack declares, with the reference's resolution rules (spec §7.1)."""

    pack_ref: str
    declarations: tuple[ProviderDecl, ...]

    @classmethod
    def for_pack(cls, pack: Any) -> ProviderRegistry | None:
        """The pack's registry (cached on the pack), or None for a pack without a manifest."""
        if not pack.has_manifest:
            return None
        if pack._provider_registry is None:
            extension = pack.extensions.get(PROVIDER_EXTENSION)
            decls = parse_provider_extension(extension) if extension is not None else []
            pack._provider_registry = cls(pack.pack_ref, tuple(decls))
        registry: ProviderRegistry = pack._provider_registry
        return registry

    def _binding(self, decl: ProviderDecl, provider_id: str) -> ProviderBinding:
        return ProviderBinding(
            provider_type=decl.provider_type,
            component_ref=decl.runtime.component_ref,
            export=decl.runtime.export,
            world=decl.runtime.world,
            provider_id=provider_id,
            pack_ref=self.pack_ref,
        )

    def resolve(
        self,
        provider_id: str | None,
        provider_type: str | None,
        instance: dict[str, Any] | None = None,
    ) -> ProviderBinding:
        """Resolve by id (an instance document first, then the declarations) or by type."""
        from ..errors import ProviderError

        if provider_id is None and provider_type is None:
            raise ProviderError("provider.invoke requires provider_id or provider_type")
        if provider_id is not None:
            binding = self._by_id(provider_id, instance)
            if provider_type is not None and binding.provider_type != provider_type:
                raise ProviderError(
                    f"provider_id `{provider_id}` resolved to provider_type "
                    f"`{binding.provider_type}`, but caller requested `{provider_type}`"
                )
            return binding
        assert provider_type is not None
        matches = [d for d in self.declarations if d.provider_type == provider_type]
        if not matches:
            raise ProviderError(f"no provider runtime found for type `{provider_type}`")
        if len(matches) > 1:
            raise ProviderError(
                f"multiple providers found for type `{provider_type}`, specify provider_id"
            )
        return self._binding(matches[0], provider_type)

    def _by_id(self, provider_id: str, instance: dict[str, Any] | None) -> ProviderBinding:
        from ..errors import ProviderError

        if instance is not None:
            if not isinstance(instance, dict):
                raise ProviderError(f"invalid provider instance `{provider_id}`")
            if not instance.get("enabled", False):
                raise ProviderError(f"provider `{provider_id}` is disabled")
            try:
                return ProviderBinding(
                    provider_type=str(instance["provider_type"]),
                    component_ref=str(instance["component_ref"]),
                    export=str(instance["export"]),
                    world=str(instance["world"]),
                    provider_id=provider_id,
                    config_json=instance.get("config"),
                    pack_ref=instance.get("pack_ref") or self.pack_ref,
                )
            except KeyError as exc:
                raise ProviderError(f"invalid provider instance `{provider_id}`") from exc
        for decl in self.declarations:
            if decl.provider_type == provider_id:
                return self._binding(decl, provider_id)
        raise ProviderError(f"provider_id `{provider_id}` not found")

    def try_resolve(self, provider_type: str) -> ProviderBinding | None:
        """Like :meth:`resolve` by type, but None when nothing declares the type."""
        from ..errors import ProviderError

        try:
            return self.resolve(None, provider_type)
        except ProviderError as exc:
            if str(exc).startswith("no provider runtime found for type"):
                return None
            raise

    def try_resolve_with_ops(
        self, provider_type: str
    ) -> tuple[ProviderBinding, tuple[str, ...]] | None:
        """The binding plus the ops its declaration allows (empty: nothing is allowed)."""
        binding = self.try_resolve(provider_type)
        if binding is None:
            return None
        ops = next(
            (d.ops for d in self.declarations if d.provider_type == binding.provider_type), ()
        )
        return binding, ops

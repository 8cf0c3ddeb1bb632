"""PackRuntime: one loaded pack, whatever format it came from (spec §2.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PackError
from ..flows.model import Flow
from .files import PackFiles


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """A component a pack declares or bundles."""

    id: str
    version: str | None = None
    world: str | None = None
    wasm_path: str | None = None  # file inside the pack, when the wasm is bundled
    source_ref: str | None = None  # where it comes from, e.g. "oci://ghcr.io/…"
    operations: tuple[str, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PackMetadata:
    pack_id: str
    version: str
    entry_flows: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FlowDescriptor:
    id: str
    flow_type: str
    pack_id: str
    entry: bool = True
    profile: str | None = None
    version: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.flow_type,
            "pack_id": self.pack_id,
            "profile": self.profile,
            "version": self.version,
            "description": self.description,
            "entry": self.entry,
        }


@dataclass(slots=True)
class PackRuntime:
    """A loaded pack. Flows are compiled; components are described, not instantiated."""

    pack_id: str
    version: str
    flows: dict[str, Flow]
    files: PackFiles
    source: Path
    generation: str  # "directory" | "legacy" | "pack-v1"
    components: dict[str, ComponentSpec] = field(default_factory=dict)
    declared_entry_flows: tuple[str, ...] = ()
    extensions: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None
    digest: str | None = None
    has_manifest: bool = True
    signature_status: str = "unsigned"
    _provider_registry: Any = field(default=None, repr=False)
    identify_hints: dict[str, Any] = field(default_factory=dict, repr=False)  # probe cache

    @property
    def metadata(self) -> PackMetadata:
        """Entry flows are the declared ones, or every flow when none are declared."""
        entry = self.declared_entry_flows or tuple(self.flows)
        return PackMetadata(self.pack_id, self.version, entry)

    @property
    def pack_ref(self) -> str:
        return f"{self.pack_id}@{self.version}"

    def descriptors(self) -> list[FlowDescriptor]:
        return [
            FlowDescriptor(
                id=flow.id,
                flow_type=flow.flow_type,
                pack_id=self.pack_id,
                entry=flow.entry,
                version=self.version,
                description=flow.description,
            )
            for flow in self.flows.values()
        ]

    def load_flow(self, flow_id: str) -> Flow:
        try:
            return self.flows[flow_id]
        except KeyError:
            raise PackError(f"flow '{flow_id}' not found in pack {self.pack_id}") from None

    def read_file(self, name: str) -> bytes | None:
        return self.files.read(name)

    def read_asset(self, path: str) -> bytes:
        relative = path.removeprefix("/").removeprefix("assets/")
        data = self.files.read(f"assets/{relative}")
        if data is None:
            raise PackError(f"asset not found: {path}")
        return data

    @property
    def declares_messaging_provider(self) -> bool:
        """True for messaging-provider packs (they never supply a tenant's entry flow)."""
        from .providers import ProviderRegistry

        registry = ProviderRegistry.for_pack(self)
        return registry is not None and any(
            decl.provider_type.startswith("messaging.") for decl in registry.declarations
        )

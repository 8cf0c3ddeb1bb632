"""``.gtpack`` archives and materialised pack directories -> :class:`PackRuntime`.

:func:`open_gtpack` is the one entry point: read the container under limits
(:mod:`.archive`), verify the SBOM and signature under a policy (:mod:`.verify`) *before*
parsing the manifest, detect and decode the manifest (:mod:`.manifest`), check
``component_manifests@v1`` hashes, and build the runtime model:

* legacy: flows from ``flows/<id>/flow.json`` (else ``flow.yaml``) — a YGTC-shaped document
  (``nodes`` a mapping) goes through the YGTC compiler, a ``{id, entry, kind, nodes: [...]}``
  document through the compiled-node reader; entry flows = ``meta.entry_flows``;
* pack-v1: the compiled flows embedded in the manifest; entry flows = the flows whose
  manifest entry lists ``entrypoints`` (every flow when none does).

A pack that fails verification raises and never produces a runtime.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._yaml import YamlProblem, load_yaml
from ..errors import PackError, VerificationError
from ..flows.model import Flow
from ..flows.ygtc import compile_document
from .archive import DEFAULT_LIMITS, ArchiveFiles, ArchiveLimits, open_archive
from .compiled import HINTS_EXTENSION, compiled_to_flow, flow_kind
from .files import DirectoryFiles
from .manifest import LegacyFlowRef, LegacyManifest, Manifest, PackV1Manifest, decode_manifest
from .pack import ComponentSpec, PackRuntime
from .verify import (
    SBOM_JSON,
    VerifyPolicy,
    VerifyReport,
    sha256_file,
    verify_component_manifests,
    verify_files,
)

logger = logging.getLogger(__name__)

MANIFEST = "manifest.cbor"
COMPONENT_SOURCES_EXTENSION = "greentic.pack.component_sources@v1"


@dataclass(slots=True)
class OpenedPack:
    """A verified pack: its runtime model, the verification report, the manifest."""

    runtime: PackRuntime
    report: VerifyReport
    manifest: Manifest


def is_archive_location(path: Path) -> bool:
    """A ``.gtpack`` file, or a directory holding a root ``manifest.cbor``."""
    if path.is_dir():
        return (path / MANIFEST).is_file()
    return path.is_file() and path.suffix.lower() == ".gtpack"


def load_gtpack(path: Path, policy: VerifyPolicy | None = None) -> PackRuntime:
    """The runtime of a verified archive; policy from the environment when not given."""
    return open_gtpack(path, policy).runtime


def open_gtpack(
    path: Path, policy: VerifyPolicy | None = None, *, limits: ArchiveLimits = DEFAULT_LIMITS
) -> OpenedPack:
    """Read, verify and decode; PackError/VerificationError name the archive and entry."""
    path = Path(path)
    label = str(path)
    policy = policy if policy is not None else VerifyPolicy.resolve()
    if path.is_dir():
        files, digest = read_directory(path, limits), None
    else:
        files = open_archive(path, limits)
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise PackError(f"failed to read {label}: {exc.strerror or exc}") from exc
    manifest_bytes = files.read(MANIFEST)
    if manifest_bytes is None:
        raise PackError(f"{label} is not a valid gtpack: {MANIFEST} missing from archive")
    report = verify_files(files, label, policy, sbom_required=False)
    manifest = decode_manifest(manifest_bytes, f"{MANIFEST} in {label}")
    if isinstance(manifest, LegacyManifest):
        if report.sbom_file is None:
            raise VerificationError(f"{label}: {SBOM_JSON} missing from archive")
        runtime = _legacy_runtime(files, manifest, label)
    else:
        runtime = _v1_runtime(files, manifest, label)
    for warning in report.warnings:
        logger.warning("%s", warning, extra={"pack": runtime.pack_id})
    runtime.source = path
    runtime.digest = digest
    runtime.signature_status = report.signature_status
    return OpenedPack(runtime, report, manifest)


def read_directory(root: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> ArchiveFiles:
    """A materialised pack directory as in-memory files, under the archive limits."""
    label = str(root)
    files = DirectoryFiles(root)
    names = files.names()
    if len(names) > limits.max_entries:
        raise PackError(
            f"pack directory {label} has {len(names)} files; limit {limits.max_entries}"
        )
    entries: dict[str, bytes] = {}
    total = 0
    for name in names:
        try:
            size = (files.root / name).stat().st_size
        except OSError as exc:
            raise PackError(f"failed to read {label}/{name}: {exc.strerror or exc}") from exc
        if size > limits.max_entry_bytes:
            raise PackError(
                f"pack directory {label} file {name} exceeds maximum allowed size of "
                f"{limits.max_entry_bytes} bytes"
            )
        total += size
        if total > limits.max_total_bytes:
            raise PackError(f"pack directory {label} exceeds maximum allowed size")
        data = files.read(name)
        if data is not None:
            entries[name] = data
    return ArchiveFiles(label, entries)


# --------------------------------------------------------------------------- legacy


def _legacy_runtime(files: ArchiveFiles, manifest: LegacyManifest, label: str) -> PackRuntime:
    flows: dict[str, Flow] = {}
    for flow_ref in manifest.flows:
        if flow_ref.id in flows:
            raise PackError(f"{label}: {MANIFEST} declares flow `{flow_ref.id}` twice")
        flows[flow_ref.id] = _legacy_flow(files, flow_ref, label)
    components: dict[str, ComponentSpec] = {}
    raw_components = manifest.raw.get("components") or []
    for ref, raw in zip(manifest.components, raw_components, strict=False):
        components[ref.name] = ComponentSpec(
            id=ref.name,
            version=ref.version,
            world=ref.world,
            wasm_path=ref.file_wasm if files.read(ref.file_wasm) is not None else None,
            manifest=dict(raw) if isinstance(raw, dict) else {},
        )
    return PackRuntime(
        pack_id=manifest.pack_id,
        version=manifest.version,
        flows=flows,
        files=files,
        source=Path(label),
        generation="legacy",
        components=components,
        declared_entry_flows=manifest.entry_flows,
        kind=manifest.kind,
    )


def _legacy_flow(files: ArchiveFiles, ref: LegacyFlowRef, label: str) -> Flow:
    flow_id, entry, file_json, file_yaml = ref.id, ref.entry, ref.file_json, ref.file_yaml
    where = f"{label}!{file_json}"
    data = files.read(file_json)
    if data is not None:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise PackError(f"{where}: flow {flow_id} is not valid JSON: {exc}") from exc
    else:
        where = f"{label}!{file_yaml}"
        data = files.read(file_yaml)
        if data is None:
            raise PackError(f"{label}: flow {flow_id} has neither {file_json} nor {file_yaml}")
        doc = _load_yaml(data, where)
    if not isinstance(doc, dict):
        raise PackError(f"{where}: flow {flow_id} must be a mapping")
    nodes = doc.get("nodes")
    if isinstance(nodes, dict):
        ygtc = {k: v for k, v in doc.items() if k not in ("entry", "kind")}
        ygtc["id"] = flow_id
        ygtc.setdefault("type", "messaging")
        if isinstance(doc.get("entry"), str) and doc["entry"] in nodes:
            ygtc.setdefault("start", doc["entry"])
        return replace(compile_document(ygtc, source=where), source=where)
    raw_type = doc.get("type")
    flow_type = raw_type if isinstance(raw_type, str) else "messaging"
    compiled = {
        "id": flow_id,
        "kind": flow_kind(flow_type),
        "entrypoints": {"default": entry},
        "nodes": nodes or [],
        "metadata": {"title": doc.get("title"), "description": doc.get("description")},
    }
    hints = {"start": entry, "schema_version": 1, "type": flow_type}
    return replace(compiled_to_flow(compiled, where, hints), source=where)


def _load_yaml(data: bytes, where: str) -> Any:
    try:
        return load_yaml(data).data
    except YamlProblem as exc:
        raise PackError(f"{where}: invalid YAML: {exc}") from exc


# --------------------------------------------------------------------------- pack-v1


def _v1_runtime(files: ArchiveFiles, manifest: PackV1Manifest, label: str) -> PackRuntime:
    extensions = manifest.extensions
    component_manifests = verify_component_manifests(files, extensions, label)
    hints = _inline(extensions.get(HINTS_EXTENSION))
    raw_hints = hints.get("flows")
    flow_hints: dict[str, Any] = raw_hints if isinstance(raw_hints, dict) else {}
    flows: dict[str, Flow] = {}
    entry_flows: list[str] = []
    for index, entry in enumerate(manifest.flows):
        flow_id = entry["id"]
        where = f"{label}!{MANIFEST} flows[{index}]"
        if flow_id in flows:
            raise PackError(f"{label}: {MANIFEST} declares flow `{flow_id}` twice")
        flow = compiled_to_flow(
            entry["flow"], where, flow_hints.get(flow_id), entry_tags=tuple(entry["tags"])
        )
        flows[flow_id] = replace(flow, id=flow_id, source=f"{label}!{MANIFEST}#flows/{flow_id}")
        if entry["entrypoints"]:
            entry_flows.append(flow_id)
    return PackRuntime(
        pack_id=manifest.pack_id,
        version=manifest.version,
        flows=flows,
        files=files,
        source=Path(label),
        generation="pack-v1",
        components=_v1_components(files, manifest, component_manifests, hints),
        declared_entry_flows=tuple(entry_flows),
        extensions=dict(extensions),
        kind=manifest.logical.get("kind"),
    )


def _v1_components(
    files: ArchiveFiles,
    manifest: PackV1Manifest,
    full: dict[str, dict[str, Any]],
    hints: dict[str, Any],
) -> dict[str, ComponentSpec]:
    raw_hints = hints.get("components")
    component_hints: dict[str, Any] = raw_hints if isinstance(raw_hints, dict) else {}
    sources = _component_sources(manifest.extensions)
    locked = _locked_blobs(files, label=str(manifest.pack_id))
    declared = {c["id"]: c for c in manifest.components}
    bundled = [
        name.removeprefix("components/").removesuffix(".wasm")
        for name in files.names()
        if name.startswith("components/") and name.endswith(".wasm") and name.count("/") == 1
    ]
    specs: dict[str, ComponentSpec] = {}
    for cid in dict.fromkeys([*declared, *bundled]):
        item = declared.get(cid, {})
        source = sources.get(cid, {})
        wasm = _first_present(
            files, f"components/{cid}.wasm", source.get("wasm_path"), locked.get(cid)
        )
        hint = component_hints.get(cid)
        version = _text(item.get("version"))
        if isinstance(hint, dict) and "version" in hint:
            version = _text(hint["version"])  # the builder had no semantic version to write
        specs[cid] = ComponentSpec(
            id=cid,
            version=version,
            world=_text(item.get("world")),
            wasm_path=wasm,
            source_ref=source.get("source_ref"),
            operations=_operations(item.get("operations")),
            manifest=full.get(cid) or dict(item),
        )
    return specs


def _component_sources(extensions: dict[str, Any]) -> dict[str, dict[str, str]]:
    payload = _inline(extensions.get(COMPONENT_SOURCES_EXTENSION))
    entries = payload.get("components", payload.get("entries"))
    found: dict[str, dict[str, str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        cid = entry.get("component_id") or entry.get("name")
        if not isinstance(cid, str):
            continue
        info: dict[str, str] = {}
        source = entry.get("source")
        if isinstance(source, str):
            info["source_ref"] = source
        elif isinstance(source, dict):
            ref = source.get("ref") or source.get("path")
            if isinstance(ref, str):
                info["source_ref"] = ref
        artifact = entry.get("artifact")
        inline = artifact.get("inline") if isinstance(artifact, dict) else None
        if isinstance(inline, dict) and isinstance(inline.get("wasm_path"), str):
            info["wasm_path"] = inline["wasm_path"]
        found[cid] = info
    return found


def _locked_blobs(files: ArchiveFiles, label: str) -> dict[str, str]:
    """component id -> ``blobs/sha256/<hex>.wasm`` for components pinned in pack.lock.cbor."""
    from . import cbor

    data = files.read("pack.lock.cbor")
    if data is None:
        return {}
    try:
        lock = cbor.decode(data, f"pack.lock.cbor of {label}")
    except PackError as exc:
        logger.warning("%s; ignored", exc)
        return {}
    components = lock.get("components") if isinstance(lock, dict) else None
    found: dict[str, str] = {}
    if isinstance(components, dict):
        for cid, entry in components.items():
            digest = entry.get("resolved_digest") if isinstance(entry, dict) else None
            if isinstance(digest, str) and digest.startswith("sha256:"):
                found[cid] = f"blobs/sha256/{digest.removeprefix('sha256:')}.wasm"
    return found


def _first_present(files: ArchiveFiles, *candidates: str | None) -> str | None:
    for candidate in candidates:
        if candidate is not None and files.read(candidate) is not None:
            return candidate
    return None


def _inline(ext: Any) -> dict[str, Any]:
    """The payload of an ExtensionRef (``inline``), or the map itself."""
    if not isinstance(ext, dict):
        return {}
    inline = ext.get("inline", ext)
    return inline if isinstance(inline, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _operations(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    names = [op.get("name") if isinstance(op, dict) else op for op in raw]
    return tuple(n for n in names if isinstance(n, str) and n)

"""Pack source directories (pack-formats §1.6) loaded into a :class:`PackRuntime`.

Two ``pack.yaml`` forms are read:

* current: ``pack_id, version, kind, publisher, components[], flows[{id, file, tags,
  entrypoints}], assets[{path}], extensions{}``;
* older (runner fixtures): ``id, version, flow_files[], template_dirs[]``.

Flows not listed come from ``flows/*.ygtc``. Resolve sidecars/summaries set each node's
``component_ref`` and ``source_ref``. Components are the union of those declared in
``pack.yaml``, found as ``components/<id>.wasm`` / ``components/<id>/component.wasm``, described
by a ``component.manifest.json``, or pinned by a resolve summary. A ``component.exec`` node
that no sidecar maps (and that names no component itself) uses the one component of the pack
that declares its operation, when exactly one does.

Entry flows: the flows whose ``pack.yaml`` entry lists ``entrypoints``; when no flow does,
every flow is an entry (PackRuntime.metadata). A flow tagged ``internal`` is never an entry
for routing (FlowDescriptor.entry).

Declared assets (``assets[].path``) and ``template_dirs`` are also readable under
``assets/<path>``, the name an archive build gives them, so flows read assets the same way
from a directory and from a ``.gtpack``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._yaml import YamlProblem, load_yaml
from ..errors import PackError
from ..flows.model import Flow
from ..flows.ygtc import compile_ygtc
from ..ids import is_valid_id
from .files import DirectoryFiles, normalize_member
from .pack import ComponentSpec, PackRuntime
from .sidecars import NodeResolution, read_resolutions

logger = logging.getLogger(__name__)

PACK_YAML = "pack.yaml"


class SourceFiles(DirectoryFiles):
    """A pack directory's files, with declared assets also visible under ``assets/``."""

    def __init__(self, root: Path, asset_paths: tuple[str, ...] = ()) -> None:
        super().__init__(root)
        self.asset_paths = asset_paths

    def read(self, name: str) -> bytes | None:
        data = super().read(name)
        if data is not None or not name.startswith("assets/"):
            return data
        relative = name.removeprefix("assets/")
        if any(relative == p or relative.startswith(p.rstrip("/") + "/") for p in self.asset_paths):
            return super().read(relative)
        return None

    def exists(self, name: str) -> bool:
        """True when ``name`` is a regular file inside the pack (no read)."""
        path = self._path(name)
        return path is not None and path.is_file()


def load_pack_dir(root: Path, *, digest: str | None = None) -> PackRuntime:
    """Load the pack directory ``root`` (it must hold ``pack.yaml``).

    Raises PackError naming the file and key for unreadable or malformed pack files, and
    FlowError (naming file, flow and node) for flows that do not compile.
    """
    doc = _read_pack_yaml(root)
    label = str(root / PACK_YAML)
    pack_id, version = _identity(doc, label)
    assets = _assets(doc, label)
    files = SourceFiles(root, assets)
    names = files.names()
    for asset in assets:
        if asset not in names and not any(n.startswith(asset + "/") for n in names):
            logger.warning("%s: declared asset `%s` is missing", label, asset)

    flows: dict[str, Flow] = {}
    entry_flows: list[str] = []
    resolutions: dict[str, dict[str, NodeResolution]] = {}
    for rel, declared_id, tags, entrypoints in _flow_entries(doc, label, names):
        data = files.read(rel)
        if data is None:
            raise PackError(f"{label}: flow file `{rel}` of pack {pack_id} not found")
        flow = compile_ygtc(data, source=str(root / rel))
        flow_id = declared_id or flow.id
        if flow_id != flow.id:
            logger.warning(
                "%s: flow file `%s` has id `%s`; using `%s`", label, rel, flow.id, flow_id
            )
        if flow_id in flows:
            raise PackError(f"{label}: pack {pack_id} declares flow `{flow_id}` twice")
        merged_tags = tuple(dict.fromkeys((*flow.tags, *tags)))
        resolved = read_resolutions(files, rel)
        resolutions[flow_id] = resolved
        flows[flow_id] = _apply(replace(flow, id=flow_id, tags=merged_tags), resolved, rel)
        if entrypoints:
            entry_flows.append(flow_id)

    components = _components(doc, label, files, names, resolutions)
    flows = {flow_id: _infer_targets(flow, components) for flow_id, flow in flows.items()}
    extensions = doc.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise PackError(f"{label}: `extensions` must be a mapping")
    kind = doc.get("kind")
    return PackRuntime(
        pack_id=pack_id,
        version=version,
        flows=flows,
        files=files,
        source=root,
        generation="directory",
        components=components,
        declared_entry_flows=tuple(entry_flows),
        extensions=extensions,
        kind=kind if isinstance(kind, str) else None,
        digest=digest,
    )


def _read_pack_yaml(root: Path) -> dict[str, Any]:
    path = root / PACK_YAML
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PackError(f"failed to read {path}: {exc.strerror or exc}") from exc
    try:
        data = load_yaml(text).data
    except YamlProblem as exc:
        raise PackError(f"failed to parse {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PackError(f"failed to parse {path}: expected a mapping with pack_id and version")
    return data


def _identity(doc: dict[str, Any], label: str) -> tuple[str, str]:
    key = "pack_id" if "pack_id" in doc else "id"
    pack_id = doc.get(key)
    if not isinstance(pack_id, str) or not pack_id.strip():
        raise PackError(
            f"{label}: `pack_id` (or `id` in the older form) must be a non-empty string"
        )
    if not is_valid_id(pack_id):
        raise PackError(f"{label}: invalid `{key}` {pack_id!r}: use letters, digits, '.', '_', '-'")
    version = doc.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.strip():
        raise PackError(f"{label}: `version` of pack {pack_id} must be a non-empty string")
    return pack_id, version


def _str_list(value: Any, label: str, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PackError(f"{label}: `{key}` must be a list of strings")
    return list(value)


def _safe(path: str, label: str, key: str) -> str:
    try:
        return normalize_member(path)
    except PackError as exc:
        raise PackError(f"{label}: `{key}`: {exc}") from None


def _assets(doc: dict[str, Any], label: str) -> tuple[str, ...]:
    paths: list[str] = []
    raw = doc.get("assets") or []
    if not isinstance(raw, list):
        raise PackError(f"{label}: `assets` must be a list of {{path: …}}")
    for index, item in enumerate(raw):
        path = item.get("path") if isinstance(item, dict) else item
        if not isinstance(path, str) or not path.strip():
            raise PackError(f"{label}: `assets[{index}].path` must be a non-empty string")
        paths.append(_safe(path, label, f"assets[{index}].path"))
    for index, path in enumerate(_str_list(doc.get("template_dirs"), label, "template_dirs")):
        paths.append(_safe(path, label, f"template_dirs[{index}]"))
    return tuple(dict.fromkeys(paths))


def _flow_entries(
    doc: dict[str, Any], label: str, names: list[str]
) -> list[tuple[str, str | None, tuple[str, ...], tuple[str, ...]]]:
    """``(file, declared id, tags, entrypoints)`` for every flow of the pack, in order."""
    if doc.get("flows") is not None:
        raw = doc["flows"]
        if not isinstance(raw, list):
            raise PackError(f"{label}: `flows` must be a list of {{id, file, tags, entrypoints}}")
        entries = []
        for index, item in enumerate(raw):
            at = f"flows[{index}]"
            if not isinstance(item, dict):
                raise PackError(f"{label}: `{at}` must be a mapping with `file`")
            file = item.get("file")
            if not isinstance(file, str) or not file.strip():
                raise PackError(f"{label}: `{at}.file` must be a non-empty string")
            flow_id = item.get("id")
            if flow_id is not None and (not isinstance(flow_id, str) or not is_valid_id(flow_id)):
                raise PackError(f"{label}: `{at}.id` must be a flow id")
            tags = tuple(_str_list(item.get("tags"), label, f"{at}.tags"))
            entrypoints = tuple(_str_list(item.get("entrypoints"), label, f"{at}.entrypoints"))
            entries.append((_safe(file, label, f"{at}.file"), flow_id, tags, entrypoints))
        return entries
    if doc.get("flow_files") is not None:
        listed = _str_list(doc["flow_files"], label, "flow_files")
        return [(_safe(f, label, "flow_files"), None, (), ()) for f in listed]
    found = [n for n in names if n.startswith("flows/") and n.endswith(".ygtc")]
    return [(name, None, (), ()) for name in sorted(found) if name.count("/") == 1]


def _apply(flow: Flow, resolved: dict[str, NodeResolution], rel: str) -> Flow:
    """Set ``component_ref``/``source_ref`` on the nodes the sidecars describe."""
    if not resolved:
        return flow
    for node_id in sorted(set(resolved) - set(flow.nodes)):
        logger.warning("resolve sidecar of %s names unknown node `%s`; ignored", rel, node_id)
    nodes = {
        node_id: replace(
            node,
            component_ref=resolved[node_id].component_id or node.component_ref,
            source_ref=resolved[node_id].source_ref,
        )
        if node_id in resolved
        else node
        for node_id, node in flow.nodes.items()
    }
    return replace(flow, nodes=nodes)


def _infer_targets(flow: Flow, components: dict[str, ComponentSpec]) -> Flow:
    """Unmapped ``component.exec`` nodes: the single component declaring the operation."""
    nodes = dict(flow.nodes)
    for node_id, node in flow.nodes.items():
        if node.component != "component.exec" or node.component_ref or not node.operation:
            continue
        owners = [c.id for c in components.values() if node.operation in c.operations]
        if len(owners) == 1:
            nodes[node_id] = replace(node, component_ref=owners[0])
    return replace(flow, nodes=nodes) if nodes != flow.nodes else flow


def _components(
    doc: dict[str, Any],
    label: str,
    files: SourceFiles,
    names: list[str],
    resolutions: dict[str, dict[str, NodeResolution]],
) -> dict[str, ComponentSpec]:
    manifests = _manifests(files, names)
    declared: dict[str, dict[str, Any]] = {}
    raw = doc.get("components") or []
    if not isinstance(raw, list):
        raise PackError(f"{label}: `components` must be a list")
    for index, item in enumerate(raw):
        cid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(cid, str) or not cid.strip():
            raise PackError(f"{label}: `components[{index}].id` must be a non-empty string")
        declared[cid] = item
    bundled = {cid for cid in map(_bundled_id, names) if cid is not None}
    pins = {
        r.component_id: r
        for flow in resolutions.values()
        for r in flow.values()
        if r.component_id is not None
    }
    locked = _lock_refs(files)
    specs: dict[str, ComponentSpec] = {}
    for cid in dict.fromkeys([*declared, *manifests, *sorted(bundled), *pins]):
        item, manifest, pin = declared.get(cid, {}), manifests.get(cid, {}), pins.get(cid)
        specs[cid] = ComponentSpec(
            id=cid,
            version=_text(item.get("version"))
            or _text(manifest.get("version"))
            or (pin.version if pin else None),
            world=_text(item.get("world"))
            or _text(manifest.get("world"))
            or (pin.world if pin else None),
            wasm_path=_wasm_path(cid, item, files, pin),
            source_ref=(pin.source_ref if pin else None) or locked.get(cid),
            operations=_operations(item.get("operations") or manifest.get("operations")),
            manifest=manifest,
        )
    return specs


def _bundled_id(name: str) -> str | None:
    """``x`` for ``components/x.wasm`` and ``components/x/component.wasm``."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == "components" and parts[1].endswith(".wasm"):
        return parts[1].removesuffix(".wasm") or None
    if len(parts) == 3 and parts[0] == "components" and parts[2] == "component.wasm":
        return parts[1]
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _wasm_path(
    cid: str, item: dict[str, Any], files: SourceFiles, pin: NodeResolution | None
) -> str | None:
    candidates = [item.get("wasm"), f"components/{cid}.wasm", f"components/{cid}/component.wasm"]
    if pin is not None:
        candidates.append(pin.local_path)
    for candidate in candidates:
        if isinstance(candidate, str) and files.exists(candidate):
            return normalize_member(candidate)
    return None


def _operations(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    names = [op.get("name") if isinstance(op, dict) else op for op in raw]
    return tuple(name for name in names if isinstance(name, str) and name)


def _manifests(files: SourceFiles, names: list[str]) -> dict[str, dict[str, Any]]:
    """Component manifests under ``components/``, by their ``id`` (else by folder name)."""
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        if not name.startswith("components/") or not name.endswith("manifest.json"):
            continue
        data = files.read(name)
        try:
            manifest = json.loads(data or b"")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PackError(f"failed to parse component manifest {name}: {exc}") from exc
        if not isinstance(manifest, dict):
            raise PackError(f"component manifest {name} must be a JSON object")
        cid = manifest.get("id")
        if not isinstance(cid, str) or not cid:
            folder = name.removeprefix("components/").rsplit("/", 1)[0]
            cid = folder.removesuffix(".manifest.json")
        found.setdefault(cid, manifest)
    return found


def _lock_refs(files: SourceFiles) -> dict[str, str]:
    """``component_id -> ref`` from pack.lock.json (both observed shapes); best effort."""
    data = files.read("pack.lock.json")
    if data is None:
        return {}
    try:
        lock = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("pack.lock.json is not valid JSON (%s); ignored", exc)
        return {}
    raw = lock.get("components") if isinstance(lock, dict) else None
    entries = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    refs: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, dict):
            cid, ref = entry.get("component_id"), entry.get("ref")
            # file:// refs are the builder's absolute paths on another machine: useless here.
            if isinstance(cid, str) and isinstance(ref, str) and not ref.startswith("file:"):
                refs.setdefault(cid, ref)
    return refs

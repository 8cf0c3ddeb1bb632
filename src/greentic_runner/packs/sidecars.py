"""Resolve sidecars and summaries: which component each flow node runs (pack-formats §2.4).

``<flow>.ygtc.resolve.json`` maps nodes to a component *source* (``local`` path relative to
the flow file, ``oci``/``repo``/``store`` ref); ``<flow>.ygtc.resolve.summary.json`` pins the
component *id* (plus digest and manifest world/version). The summary wins where both exist.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Any

from ..errors import PackError
from .files import PackFiles

logger = logging.getLogger(__name__)

SOURCE_KINDS = frozenset({"local", "oci", "repo", "store"})


@dataclass(frozen=True, slots=True)
class NodeResolution:
    """What the sidecar and summary say about one node."""

    component_id: str | None = None
    source_ref: str | None = None  # "oci://…", "repo://…", or a pack-relative path for local
    local_path: str | None = None  # pack-relative wasm path of a local source
    digest: str | None = None
    world: str | None = None
    version: str | None = None


def read_resolutions(files: PackFiles, flow_file: str) -> dict[str, NodeResolution]:
    """Node resolutions for the flow at ``flow_file`` (pack-relative); {} without sidecars.

    Raises PackError naming the sidecar file and node for malformed JSON or shapes.
    """
    sidecar = _read_json(files, f"{flow_file}.resolve.json")
    summary = _read_json(files, f"{flow_file}.resolve.summary.json")
    flow_dir = posixpath.dirname(flow_file)
    found: dict[str, NodeResolution] = {}
    if sidecar is not None:
        name = f"{flow_file}.resolve.json"
        for node_id, entry in _nodes(sidecar, name).items():
            found[node_id] = _resolution(entry, name, node_id, flow_dir, summary=False)
    if summary is not None:
        name = f"{flow_file}.resolve.summary.json"
        for node_id, entry in _nodes(summary, name).items():
            pinned = _resolution(entry, name, node_id, flow_dir, summary=True)
            earlier = found.get(node_id)
            found[node_id] = NodeResolution(
                component_id=pinned.component_id,
                source_ref=pinned.source_ref or (earlier.source_ref if earlier else None),
                local_path=pinned.local_path or (earlier.local_path if earlier else None),
                digest=pinned.digest or (earlier.digest if earlier else None),
                world=pinned.world,
                version=pinned.version,
            )
    return found


def _read_json(files: PackFiles, name: str) -> Any:
    data = files.read(name)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackError(f"failed to parse {name}: {exc}") from exc


def _nodes(document: Any, name: str) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), dict):
        raise PackError(f"{name}: expected an object with a `nodes` map")
    version = document.get("schema_version", 1)
    if version != 1:
        raise PackError(f"{name}: unsupported schema_version {version!r} (expected 1)")
    nodes: dict[str, Any] = document["nodes"]
    return nodes


def _resolution(
    entry: Any, name: str, node_id: str, flow_dir: str, *, summary: bool
) -> NodeResolution:
    where = f"{name}: node `{node_id}`"
    if not isinstance(entry, dict):
        raise PackError(f"{where}: expected an object")
    component_id = entry.get("component_id")
    if summary and (not isinstance(component_id, str) or not component_id.strip()):
        raise PackError(f"{where}: `component_id` must be a non-empty string")
    source = entry.get("source")
    if not isinstance(source, dict) or source.get("kind") not in SOURCE_KINDS:
        raise PackError(f"{where}: `source.kind` must be one of {', '.join(sorted(SOURCE_KINDS))}")
    source_ref, local_path = _source(source, where, flow_dir)
    digest = entry.get("digest", source.get("digest"))
    raw_manifest = entry.get("manifest")
    manifest: dict[str, Any] = raw_manifest if isinstance(raw_manifest, dict) else {}
    return NodeResolution(
        component_id=component_id if isinstance(component_id, str) else None,
        source_ref=source_ref,
        local_path=local_path,
        digest=digest if isinstance(digest, str) else None,
        world=manifest.get("world") if isinstance(manifest.get("world"), str) else None,
        version=manifest.get("version") if isinstance(manifest.get("version"), str) else None,
    )


def _source(source: dict[str, Any], where: str, flow_dir: str) -> tuple[str, str | None]:
    if source["kind"] != "local":
        ref = source.get("ref")
        if not isinstance(ref, str) or not ref.strip():
            raise PackError(f"{where}: a `{source['kind']}` source needs a non-empty `ref`")
        return ref, None
    path = source.get("path")
    if not isinstance(path, str) or not path.strip():
        raise PackError(f"{where}: a `local` source needs a non-empty `path`")
    relative = path.removeprefix("file://")
    joined = posixpath.normpath(posixpath.join(flow_dir, relative))
    if joined.startswith("../") or joined == ".." or posixpath.isabs(joined):
        # Outside the pack: keep the authored path for messages, no pack file to use.
        return path, None
    return joined, joined

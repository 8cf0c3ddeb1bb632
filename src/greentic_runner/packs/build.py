"""The deterministic ``pack-v1`` archive writer (pack-formats §1.1–1.3, §1.5).

:func:`build_archive` turns a loaded :class:`PackRuntime` (usually a pack source directory
read by :mod:`.source`) into archive bytes; building the same input twice gives identical
bytes: entries are stored (no compression), written in sorted path order, dated
1980-01-01 00:00 with mode 0644, CBOR documents are deterministic, and the signature
envelope's ``signed_at_utc`` is ``SOURCE_DATE_EPOCH`` (else 1980-01-01T00:00:00Z).

Entries: ``manifest.cbor`` (flows compiled in), ``components/<id>.wasm`` and
``components/<id>.manifest.cbor`` for every component whose wasm the pack holds,
``assets/**`` (declared assets and template directories land under ``assets/<path>``),
``pack.lock.cbor`` (converted from ``pack.lock.json`` when only that exists), with ``dev``
also ``pack.yaml`` and the flow sources, then ``sbom.cbor`` and, when signing,
``signatures/pack.sig`` + ``signatures/chain.pem``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import PackError
from ..flows.model import Flow
from . import cbor, keys
from .compiled import HINTS_EXTENSION, flow_to_compiled
from .manifest import PACK_KINDS, SEMVER, encode_pack_v1
from .pack import ComponentSpec, PackRuntime
from .verify import (
    CHAIN_PATH,
    COMPONENT_MANIFESTS_EXTENSION,
    SBOM_CBOR,
    SBOM_FORMAT,
    SIGNATURE_PATH,
    SbomEntry,
    signature_digest,
)

PACK_MODE_EXTENSION = "greentic.pack-mode.v1"
COMPONENT_SOURCES_EXTENSION = "greentic.pack.component_sources@v1"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_MEDIA_TYPES = {
    ".cbor": "application/cbor",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".ygtc": "application/yaml",
}


@dataclass(frozen=True, slots=True)
class Signer:
    """A signing key and the PEM chain whose first certificate holds its public key."""

    key: Ed25519PrivateKey
    chain_pem: bytes

    @classmethod
    def from_files(cls, key_path: Path, chain_path: Path | None = None) -> Signer:
        """Key from PKCS#8 PEM; chain from ``chain_path``, else ``chain.pem`` beside the
        key, else a fresh self-signed dev certificate for the key."""
        key = keys.load_private_key(key_path)
        candidate = chain_path or key_path.with_name("chain.pem")
        if chain_path is not None or candidate.is_file():
            try:
                chain = candidate.read_bytes()
            except OSError as exc:
                raise PackError(
                    f"failed to read certificate chain {candidate}: {exc.strerror or exc}"
                ) from exc
        else:
            chain = keys.certificate_pem(keys.self_signed_certificate(key))
        first = keys.parse_certificate_chain(chain, str(candidate))[0]
        if keys.raw_public_key(keys.certificate_key(first, str(candidate))) != (
            keys.raw_public_key(key.public_key())
        ):
            raise PackError(
                f"certificate chain {candidate} does not hold the public key of {key_path}"
            )
        return cls(key, chain)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build wrote."""

    path: Path | None
    data: bytes
    sbom: list[SbomEntry] = field(default_factory=list)
    signed: bool = False

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the archive (the pin for index entries and revisions)."""
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


def build_pack(
    source: Path, out: Path, *, signer: Signer | None = None, dev: bool = False
) -> BuildResult:
    """Load the pack at ``source`` (any form load_pack accepts) and write ``out``."""
    from .loader import load_pack

    result = build_archive(load_pack(source), signer=signer, dev=dev)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(result.data)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PackError(f"failed to write {out}: {exc.strerror or exc}") from exc
    return BuildResult(out, result.data, result.sbom, result.signed)


def build_archive(
    pack: PackRuntime, *, signer: Signer | None = None, dev: bool = False
) -> BuildResult:
    """The archive bytes for ``pack``; PackError when the pack cannot be encoded."""
    entries: dict[str, bytes] = {}
    components, manifest_entries = _bundle_components(pack, entries)
    _bundle_assets(pack, entries)
    _bundle_lock(pack, entries)
    if dev:
        _bundle_sources(pack, entries)
    logical = _logical_manifest(pack, components, manifest_entries, dev)
    entries["manifest.cbor"] = encode_pack_v1(logical)
    sbom = [
        SbomEntry(name, len(data), blake3.blake3(data).hexdigest(), _media_type(name))
        for name, data in sorted(entries.items())
    ]
    sbom_bytes = cbor.encode_canonical(
        {
            "format": SBOM_FORMAT,
            "files": [
                {
                    "path": e.path,
                    "size": e.size,
                    "media_type": e.media_type,
                    "hash_blake3": e.hash_blake3,
                }
                for e in sbom
            ],
        }
    )
    entries[SBOM_CBOR] = sbom_bytes
    if signer is not None:
        digest = signature_digest(entries["manifest.cbor"], sbom_bytes, sbom)
        public = signer.key.public_key()
        envelope = {
            "alg": "ed25519",
            "sig": _b64url(signer.key.sign(digest)),
            "digest": digest.hex(),
            "signed_at_utc": _timestamp(),
            "key_fingerprint": keys.key_fingerprint(public),
        }
        entries[SIGNATURE_PATH] = (json.dumps(envelope, indent=2) + "\n").encode()
        entries[CHAIN_PATH] = signer.chain_pem
    return BuildResult(None, write_zip(entries), sbom, signer is not None)


def write_zip(entries: Mapping[str, bytes]) -> bytes:
    """Stored entries in sorted order, fixed timestamps, unix mode 0644."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = (0o100644 & 0xFFFF) << 16
            archive.writestr(info, entries[name])
    return buffer.getvalue()


# --------------------------------------------------------------------------- manifest


def _logical_manifest(
    pack: PackRuntime,
    components: list[dict[str, Any]],
    manifest_entries: list[dict[str, Any]],
    dev: bool,
) -> dict[str, Any]:
    if not SEMVER.match(pack.version):
        raise PackError(
            f"pack {pack.pack_id} has version `{pack.version}`; a pack-v1 archive needs a "
            "semantic version such as 1.0.0"
        )
    flows, hints = [], {}
    for flow in pack.flows.values():
        compiled, flow_hints = flow_to_compiled(flow)
        hints[flow.id] = flow_hints
        flows.append(
            {
                "id": flow.id,
                "kind": compiled["kind"],
                "flow": compiled,
                "tags": list(flow.tags),
                "entrypoints": [flow.id] if flow.id in pack.declared_entry_flows else [],
            }
        )
    extensions: dict[str, Any] = dict(pack.extensions)
    extensions[PACK_MODE_EXTENSION] = _ext(PACK_MODE_EXTENSION, {"mode": "dev" if dev else "prod"})
    component_hints = {
        spec.id: {"version": spec.version}
        for spec in pack.components.values()
        if not (spec.version and SEMVER.match(spec.version))
    }
    extensions[HINTS_EXTENSION] = _ext(
        HINTS_EXTENSION, {"flows": hints, "components": component_hints}
    )
    if manifest_entries:
        extensions[COMPONENT_MANIFESTS_EXTENSION] = _ext(
            COMPONENT_MANIFESTS_EXTENSION, {"schema_version": 1, "entries": manifest_entries}
        )
    sources = _component_sources(pack, {e["component_id"] for e in manifest_entries})
    if sources:
        extensions[COMPONENT_SOURCES_EXTENSION] = _ext(
            COMPONENT_SOURCES_EXTENSION, {"schema_version": 1, "components": sources}
        )
    return {
        "schema_version": "pack-v1",
        "pack_id": pack.pack_id,
        "version": pack.version,
        "kind": pack.kind if pack.kind in PACK_KINDS else "application",
        "publisher": "",
        "components": components,
        "flows": flows,
        "dependencies": [],
        "capabilities": [],
        "signatures": {"signatures": []},
        "extensions": dict(sorted(extensions.items())),
    }


def _ext(kind: str, inline: Any) -> dict[str, Any]:
    return {"kind": kind, "version": "1.0.0", "inline": inline}


def _component_entry(spec: ComponentSpec) -> dict[str, Any]:
    """The ComponentManifest of a spec, its own manifest's fields first, then defaults."""
    manifest = spec.manifest
    described = manifest.get("operations")
    by_name = {
        op["name"]: op
        for op in (described if isinstance(described, list) else [])
        if isinstance(op, dict) and isinstance(op.get("name"), str)
    }
    # the spec's operation list (names, in order) is what the runtime model keeps
    operations = [
        by_name.get(name, {"name": name, "input_schema": None, "output_schema": None})
        for name in spec.operations
    ]
    version = spec.version if spec.version and SEMVER.match(spec.version) else "0.0.0"
    return {
        "id": spec.id,
        "version": version,
        "supports": list(manifest.get("supports") or []),
        "world": spec.world or "",
        "profiles": manifest.get("profiles") or {"default": None, "supported": []},
        "capabilities": manifest.get("capabilities") or {"wasi": {}, "host": {}},
        "configurators": manifest.get("configurators"),
        "operations": operations,
        "config_schema": manifest.get("config_schema"),
        "resources": manifest.get("resources") or {},
        "dev_flows": manifest.get("dev_flows") or {},
    }


def _bundle_components(
    pack: PackRuntime, entries: dict[str, bytes]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    components: list[dict[str, Any]] = []
    manifest_entries: list[dict[str, Any]] = []
    for spec in pack.components.values():
        entry = _component_entry(spec)
        components.append(entry)
        if spec.wasm_path is not None:
            wasm = pack.files.read(spec.wasm_path)
            if wasm is None:
                raise PackError(
                    f"pack {pack.pack_id}: component {spec.id} wasm `{spec.wasm_path}` "
                    "is not readable"
                )
            entries[f"components/{spec.id}.wasm"] = wasm
        elif not spec.manifest:
            continue
        manifest_doc = {**spec.manifest, "id": spec.id} if spec.manifest else entry
        manifest_file = f"components/{spec.id}.manifest.cbor"
        manifest_bytes = cbor.encode_canonical(manifest_doc)
        entries[manifest_file] = manifest_bytes
        manifest_entries.append(
            {
                "component_id": spec.id,
                "manifest_file": manifest_file,
                "encoding": "cbor",
                "content_hash": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest(),
            }
        )
    return components, manifest_entries


def _component_sources(pack: PackRuntime, bundled: set[str]) -> list[dict[str, Any]]:
    sources = []
    for spec in pack.components.values():
        if spec.source_ref is None:
            continue
        artifact: Any = "remote"
        if spec.id in bundled:
            artifact = {
                "inline": {
                    "wasm_path": f"components/{spec.id}.wasm",
                    "manifest_path": f"components/{spec.id}.manifest.cbor",
                }
            }
        sources.append(
            {
                "name": spec.id,
                "component_id": spec.id,
                "source": spec.source_ref,
                "resolved": {"digest": _wasm_digest(pack, spec)},
                "artifact": artifact,
            }
        )
    return sources


def _wasm_digest(pack: PackRuntime, spec: ComponentSpec) -> str:
    data = pack.files.read(spec.wasm_path) if spec.wasm_path else None
    return "sha256:" + hashlib.sha256(data).hexdigest() if data is not None else ""


# --------------------------------------------------------------------------- files


def _bundle_assets(pack: PackRuntime, entries: dict[str, bytes]) -> None:
    declared = tuple(getattr(pack.files, "asset_paths", ()))
    for name in pack.files.names():
        if name.startswith("assets/"):
            target = name
        elif any(name == p or name.startswith(p.rstrip("/") + "/") for p in declared):
            target = f"assets/{name}"
        else:
            continue
        data = pack.files.read(name)
        if data is not None:
            entries.setdefault(target, data)


def _bundle_lock(pack: PackRuntime, entries: dict[str, bytes]) -> None:
    lock = pack.files.read("pack.lock.cbor")
    if lock is not None:
        entries["pack.lock.cbor"] = lock
        return
    text = pack.files.read("pack.lock.json")
    if text is None:
        return
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PackError(f"pack {pack.pack_id}: pack.lock.json is not valid JSON: {exc}") from exc
    entries["pack.lock.cbor"] = cbor.encode_canonical(doc)


def _bundle_sources(pack: PackRuntime, entries: dict[str, bytes]) -> None:
    """``--dev``: keep pack.yaml and each flow's source as ``flows/<id>/flow.ygtc``."""
    pack_yaml = pack.files.read("pack.yaml")
    if pack_yaml is not None:
        entries["pack.yaml"] = pack_yaml
    for flow in pack.flows.values():
        relative = _relative_source(pack, flow)
        data = pack.files.read(relative) if relative else None
        if data is not None:
            entries[f"flows/{flow.id}/flow.ygtc"] = data


def _relative_source(pack: PackRuntime, flow: Flow) -> str | None:
    if flow.source is None:
        return None
    try:
        return PurePosixPath(Path(flow.source).relative_to(pack.source).as_posix()).as_posix()
    except ValueError:
        return None


def _media_type(name: str) -> str:
    return _MEDIA_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _timestamp() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    seconds = int(epoch) if epoch.isdigit() else 315532800  # 1980-01-01T00:00:00Z
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

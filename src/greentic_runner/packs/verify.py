"""Archive verification: SBOM, detached signatures, component manifests, pins (§1.5).

Policies (:class:`VerifyPolicy`):

* **dev** (default): a signature is checked when present; the self-signed
  ``greentic-dev-local`` certificate is accepted (a chain of more than one certificate is a
  warning); a pack without signature files loads with a warning.
* **strict**: signature files are required and the dev certificate is rejected.
* a **pinned public key** (either policy) requires a signature made by exactly that key.

Integrity failures (an SBOM entry that does not match, an unlisted file, a signature that
does not verify) are errors under every policy: a pack that fails never loads.

The policy comes from arguments first, then the reference environment variables:
``PACK_VERIFY_STRICT`` (``1``/``true`` = strict; when unset, strict iff ``PACK_PUBLIC_KEY``
is set) and ``PACK_PUBLIC_KEY`` (see :func:`.keys.parse_public_key`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import PackError, VerificationError
from . import cbor, keys
from .archive import ArchiveFiles

SBOM_FORMAT = "greentic-sbom-v1"
SBOM_JSON = "sbom.json"
SBOM_CBOR = "sbom.cbor"
SIGNATURE_PATH = "signatures/pack.sig"
CHAIN_PATH = "signatures/chain.pem"
UNLISTED = frozenset({SBOM_JSON, SBOM_CBOR, SIGNATURE_PATH, CHAIN_PATH})
COMPONENT_MANIFESTS_EXTENSION = "greentic.pack.component_manifests@v1"


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """How strictly to verify; see the module docstring."""

    strict: bool = False
    public_key: Ed25519PublicKey | None = None

    @property
    def name(self) -> str:
        return "strict" if self.strict else "dev"

    @classmethod
    def resolve(
        cls,
        strict: bool | None = None,
        public_key: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> VerifyPolicy:
        """Arguments win over ``PACK_VERIFY_STRICT`` / ``PACK_PUBLIC_KEY``."""
        env = os.environ if environ is None else environ
        key_text = public_key if public_key is not None else env.get("PACK_PUBLIC_KEY")
        key = keys.parse_public_key(key_text) if key_text else None
        if strict is None:
            raw = env.get("PACK_VERIFY_STRICT")
            strict = (raw == "1" or raw.lower() == "true") if raw is not None else key is not None
        return cls(strict=strict, public_key=key)


@dataclass(frozen=True, slots=True)
class SbomEntry:
    path: str
    size: int
    hash_blake3: str
    media_type: str


@dataclass(slots=True)
class VerifyReport:
    """What verification found; ``signature_status`` is ``unsigned``, ``verified`` or
    ``verified-dev`` (the dev certificate)."""

    policy: str
    sbom_file: str | None = None
    sbom: list[SbomEntry] = field(default_factory=list)
    signature_status: str = "unsigned"
    signer: str | None = None
    key_fingerprint: str | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for ``pack verify``."""
        sbom = f"{len(self.sbom)} files match {self.sbom_file}" if self.sbom_file else "no SBOM"
        if self.signature_status == "unsigned":
            signature = "unsigned"
        else:
            signature = f"signature {self.signature_status} (CN={self.signer})"
        return f"{sbom}; {signature}; policy {self.policy}"


def verify_files(
    files: ArchiveFiles, label: str, policy: VerifyPolicy, *, sbom_required: bool
) -> VerifyReport:
    """SBOM then signature, before anything in the pack is parsed beyond the SBOM."""
    report = VerifyReport(policy=policy.name)
    sbom_name = SBOM_CBOR if SBOM_CBOR in files else SBOM_JSON if SBOM_JSON in files else None
    if sbom_name is None:
        if sbom_required or policy.strict:
            raise VerificationError(f"{label}: SBOM (sbom.cbor or sbom.json) missing from archive")
        report.warnings.append(f"{label}: SBOM missing; contents are not integrity-checked")
    else:
        sbom_bytes = files.read(sbom_name) or b""
        report.sbom_file = sbom_name
        report.sbom = parse_sbom(
            sbom_bytes, f"{sbom_name} in {label}", json_format=sbom_name == SBOM_JSON
        )
        verify_sbom(files, report.sbom, label, sbom_name)
    _verify_signature(files, label, policy, report)
    return report


def parse_sbom(data: bytes, what: str, *, json_format: bool) -> list[SbomEntry]:
    """``{format: "greentic-sbom-v1", files: [{path, size, media_type, hash_blake3}]}``."""
    if json_format:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise VerificationError(f"{what} is not valid JSON: {exc}") from exc
    else:
        doc = cbor.decode(data, what)
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise VerificationError(f"{what} must be a map with a `files` list")
    if doc.get("format") != SBOM_FORMAT:
        raise VerificationError(f"unexpected SBOM format: {doc.get('format')} in {what}")
    entries: list[SbomEntry] = []
    seen: set[str] = set()
    for item in doc["files"]:
        entry = _sbom_entry(item, what)
        if entry.path in seen:
            raise VerificationError(f"{what} lists `{entry.path}` twice")
        seen.add(entry.path)
        entries.append(entry)
    return entries


def _sbom_entry(item: Any, what: str) -> SbomEntry:
    if not isinstance(item, dict):
        raise VerificationError(f"{what} has a malformed entry")
    path, digest = item.get("path"), item.get("hash_blake3")
    size, media_type = item.get("size"), item.get("media_type", "")
    if not isinstance(path, str) or not isinstance(digest, str):
        raise VerificationError(f"{what} has an entry without path or hash_blake3")
    if not isinstance(size, int) or isinstance(size, bool) or not isinstance(media_type, str):
        raise VerificationError(f"{what} entry `{path}` has a malformed size or media_type")
    return SbomEntry(path, size, digest.lower(), media_type)


def verify_sbom(files: ArchiveFiles, entries: list[SbomEntry], label: str, sbom_name: str) -> None:
    """Every entry present and matching; every other file listed (reference messages)."""
    # every listed file must exist before any hash is compared, so a dangling entry is
    # reported as such even when other entries are also wrong
    for entry in entries:
        if files.read(entry.path) is None:
            raise VerificationError(f"{label}: sbom references missing file `{entry.path}`")
    listed: set[str] = set()
    for entry in entries:
        actual = blake3.blake3(files.read(entry.path) or b"").hexdigest()
        if actual != entry.hash_blake3:
            raise VerificationError(
                f"{label}: hash mismatch for {entry.path}: expected {entry.hash_blake3}, "
                f"found {actual}"
            )
        listed.add(entry.path)
    for name in files.names():
        if name not in UNLISTED and name not in listed:
            raise VerificationError(f"{label}: file `{name}` missing from {sbom_name}")


def signature_digest(manifest: bytes, sbom: bytes, entries: list[SbomEntry]) -> bytes:
    """BLAKE3(manifest ‖ SBOM bytes ‖ for each entry sorted by path: path ‖ "\\n" ‖ hash)."""
    hasher = blake3.blake3(manifest)
    hasher.update(sbom)
    for entry in sorted(entries, key=lambda e: e.path):
        hasher.update(entry.path.encode())
        hasher.update(b"\n")
        hasher.update(entry.hash_blake3.encode())
    return hasher.digest()


def _verify_signature(
    files: ArchiveFiles, label: str, policy: VerifyPolicy, report: VerifyReport
) -> None:
    sig_bytes, chain_bytes = files.read(SIGNATURE_PATH), files.read(CHAIN_PATH)
    if sig_bytes is None and chain_bytes is None:
        if policy.strict:
            raise VerificationError(
                f"{label}: signature required by the strict policy but "
                f"signature file `{SIGNATURE_PATH}` is missing"
            )
        if policy.public_key is not None:
            raise VerificationError(f"{label}: signature missing but a public key is pinned")
        report.warnings.append(f"{label}: signature files missing; skipping verification")
        return
    if sig_bytes is None or chain_bytes is None:
        missing = SIGNATURE_PATH if sig_bytes is None else CHAIN_PATH
        raise VerificationError(f"{label}: signature files incomplete: `{missing}` missing")
    if report.sbom_file is None:
        raise VerificationError(f"{label}: signature present but the SBOM is missing")
    envelope = _envelope(sig_bytes, label)
    manifest = files.read("manifest.cbor") or b""
    digest = signature_digest(manifest, files.read(report.sbom_file) or b"", report.sbom)
    if digest.hex() != envelope["digest"].lower():
        raise VerificationError(f"{label}: signature digest mismatch")
    if envelope["alg"].lower() != "ed25519":
        raise VerificationError(f"{label}: unsupported signature algorithm: {envelope['alg']}")
    try:
        certs = keys.parse_certificate_chain(chain_bytes, f"{CHAIN_PATH} in {label}")
        public = keys.certificate_key(certs[0], f"{CHAIN_PATH} in {label}")
    except PackError as exc:
        raise VerificationError(str(exc)) from exc
    first = certs[0]
    dev = keys.is_dev_certificate(first)
    if policy.strict and dev:
        raise VerificationError(
            f"{label}: dev self-signed certificate is not allowed under strict policy"
        )
    if not policy.strict and len(certs) != 1:
        report.warnings.append(
            f"{label}: chain contains {len(certs)} certificates; dev mode expects exactly 1"
        )
    try:
        public.verify(_signature_bytes(envelope["sig"], label), digest)
    except InvalidSignature:
        raise VerificationError(f"{label}: signature verification failed") from None
    if policy.public_key is not None and keys.raw_public_key(public) != keys.raw_public_key(
        policy.public_key
    ):
        raise VerificationError(f"{label}: pack is not signed by the pinned public key")
    report.signature_status = "verified-dev" if dev else "verified"
    report.signer = keys.common_name(first)
    report.key_fingerprint = keys.key_fingerprint(public)


def _envelope(data: bytes, label: str) -> dict[str, str]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise VerificationError(f"{label}: {SIGNATURE_PATH} is not valid JSON") from exc
    fields = ("alg", "sig", "digest")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(f), str) for f in fields):
        raise VerificationError(f"{label}: {SIGNATURE_PATH} lacks alg, sig or digest")
    return {f: doc[f] for f in fields}


def _signature_bytes(text: str, label: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{label}: invalid signature encoding: {exc}") from exc
    if len(raw) != 64:
        raise VerificationError(f"{label}: signature must be 64 bytes")
    return raw


def verify_component_manifests(
    files: ArchiveFiles, extensions: Mapping[str, Any], label: str
) -> dict[str, dict[str, Any]]:
    """Check ``greentic.pack.component_manifests@v1``; return component id -> manifest."""
    ext = extensions.get(COMPONENT_MANIFESTS_EXTENSION)
    if ext is None:
        return {}
    payload = ext.get("inline", ext) if isinstance(ext, dict) else None
    entries = payload.get("entries") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise VerificationError(f"{label}: {COMPONENT_MANIFESTS_EXTENSION} has no entries list")
    found: dict[str, dict[str, Any]] = {}
    for item in entries:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("component_id", "manifest_file", "content_hash")
        ):
            raise VerificationError(f"{label}: malformed {COMPONENT_MANIFESTS_EXTENSION} entry")
        component_id, name = item["component_id"], item["manifest_file"]
        data = files.read(name)
        if data is None:
            raise VerificationError(f"{label}: component manifest `{name}` is missing")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != item["content_hash"].lower():
            raise VerificationError(
                f"{label}: component manifest `{name}` content hash mismatch: expected "
                f"{item['content_hash']}, found {actual}"
            )
        manifest = cbor.decode(data, f"{name} in {label}")
        if not isinstance(manifest, dict) or manifest.get("id") != component_id:
            declared = manifest.get("id") if isinstance(manifest, dict) else None
            raise VerificationError(
                f"{label}: component manifest `{name}` declares id `{declared}`, "
                f"expected `{component_id}`"
            )
        found[component_id] = manifest
    return found


# --------------------------------------------------------------------------- pins


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a whole file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def verify_sha256_pin(path: Path, pin: str, what: str = "revision pack") -> None:
    """Raise VerificationError unless ``path`` hashes to ``pin``; reference wording."""
    algorithm, sep, value = pin.partition(":")
    if not sep or not algorithm or not value:
        raise VerificationError(f"{what} `{path}` has an invalid digest `{pin}`")
    if algorithm.lower() != "sha256":
        raise VerificationError(
            f"{what} `{path}` pins unsupported digest algorithm `{algorithm}`; "
            "only sha256 is supported"
        )
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise PackError(
            f"hashing {what} `{path}` for digest verification: {exc.strerror or exc}"
        ) from exc
    if actual != f"sha256:{value.lower()}":
        raise VerificationError(f"{what} `{path}` does not match pinned digest `{pin}`")


def verify_index_entry(
    name: str, path: Path, expected: str | None, signature: str | None, policy: VerifyPolicy
) -> str:
    """The old index watcher's checks; returns the file's ``sha256:<hex>``.

    The digest must match when given (``digest mismatch for {name}: …``); with a pinned
    public key the entry's ``signature`` (standard base64 Ed25519 over the digest string)
    is required and must verify.
    """
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise PackError(f"failed to open {path} for hashing: {exc.strerror or exc}") from exc
    if expected is not None and expected.lower() != actual:
        raise VerificationError(f"digest mismatch for {name}: expected {expected}, found {actual}")
    if policy.public_key is not None:
        if not signature:
            raise VerificationError(
                f"signature missing for pack {name} but PACK_PUBLIC_KEY is configured"
            )
        try:
            raw = base64.b64decode(signature.strip() + "=" * (-len(signature.strip()) % 4))
            policy.public_key.verify(raw, actual.encode())
        except (binascii.Error, ValueError) as exc:
            raise VerificationError("pack signature is not valid base64") from exc
        except InvalidSignature:
            raise VerificationError("pack signature verification failed") from None
    return actual

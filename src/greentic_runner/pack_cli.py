"""``greentic-runner pack …``: build, keygen, verify and inspect ``.gtpack`` archives.

The main CLI calls :func:`register`; each handler takes the parsed arguments and the output
stream, prints ``error: <message>`` on stderr for a RunnerError and returns the exit code
(0 success, 1 failure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from .errors import PackError, RunnerError
from .packs import keys
from .packs.build import Signer, build_pack
from .packs.gtpack import OpenedPack, open_gtpack
from .packs.manifest import PackV1Manifest, derive_entry_flows
from .packs.verify import VerifyPolicy

KEY_FILE = "pack-signing.key.pem"
CHAIN_FILE = "chain.pem"
PUBLIC_FILE = "public.pem"


def register(subparsers: Any) -> None:
    """Add ``pack build|keygen|verify|inspect`` to the main parser's subcommands."""
    pack = subparsers.add_parser("pack", help="build, sign, verify and inspect .gtpack archives")
    commands = pack.add_subparsers(dest="pack_command", required=True, metavar="PACK_COMMAND")

    build = commands.add_parser("build", help="build a deterministic pack-v1 .gtpack")
    build.add_argument("source", type=Path, help="pack directory (pack.yaml) or pack")
    build.add_argument("-o", "--out", type=Path, required=True, help="archive to write")
    build.add_argument("--sign", type=Path, metavar="KEY.pem", help="Ed25519 PKCS#8 key")
    build.add_argument(
        "--chain",
        type=Path,
        metavar="CHAIN.pem",
        help="certificate chain (default: chain.pem beside the key, else a dev certificate)",
    )
    build.add_argument(
        "--dev", action="store_true", help="dev mode: keep pack.yaml and flow sources"
    )
    build.set_defaults(handler=handle_build)

    keygen = commands.add_parser("keygen", help="create an Ed25519 signing key and certificate")
    keygen.add_argument(
        "-o", "--out-dir", type=Path, default=Path("keys"), help="directory (default: keys)"
    )
    keygen.add_argument(
        "--cn",
        default=keys.DEV_COMMON_NAME,
        help=f"certificate common name (default: {keys.DEV_COMMON_NAME}, the dev certificate "
        "the strict policy rejects)",
    )
    keygen.add_argument("--force", action="store_true", help="overwrite existing files")
    keygen.set_defaults(handler=handle_keygen)

    verify = commands.add_parser("verify", help="verify an archive's SBOM and signature")
    verify.add_argument("pack", type=Path, help=".gtpack file or materialised pack directory")
    _policy_options(verify)
    verify.set_defaults(handler=handle_verify)

    inspect = commands.add_parser("inspect", help="describe a verified archive")
    inspect.add_argument("pack", type=Path, help=".gtpack file or materialised pack directory")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    _policy_options(inspect)
    inspect.set_defaults(handler=handle_inspect)


def _policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="require a non-dev signature (default: $PACK_VERIFY_STRICT)",
    )
    parser.add_argument(
        "--public-key",
        metavar="PEM",
        help="pin the signer: PEM file, PEM text or ed25519:<base64> (default: $PACK_PUBLIC_KEY)",
    )


def _fail(exc: RunnerError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def _open(args: argparse.Namespace) -> OpenedPack:
    policy = VerifyPolicy.resolve(strict=args.strict, public_key=args.public_key)
    return open_gtpack(args.pack, policy)


def handle_build(args: argparse.Namespace, out: TextIO, stdin: TextIO | None = None) -> int:
    """``pack build DIR -o OUT [--sign KEY.pem] [--chain CHAIN.pem] [--dev]``."""
    try:
        if args.chain and not args.sign:
            raise PackError("--chain needs --sign")
        signer = Signer.from_files(args.sign, args.chain) if args.sign else None
        result = build_pack(args.source, args.out, signer=signer, dev=args.dev)
    except RunnerError as exc:
        return _fail(exc)
    state = "signed" if result.signed else "unsigned"
    out.write(f"built {args.out}: {len(result.sbom)} files, {state}, {result.digest}\n")
    return 0


def handle_keygen(args: argparse.Namespace, out: TextIO, stdin: TextIO | None = None) -> int:
    """``pack keygen [-o DIR] [--cn NAME] [--force]``."""
    directory: Path = args.out_dir
    paths = [directory / KEY_FILE, directory / CHAIN_FILE, directory / PUBLIC_FILE]
    try:
        existing = [str(p) for p in paths if p.exists()]
        if existing and not args.force:
            raise PackError(f"refusing to overwrite {', '.join(existing)} (use --force)")
        key = keys.generate_key()
        cert = keys.self_signed_certificate(key, args.cn)
        directory.mkdir(parents=True, exist_ok=True)
        _write(paths[0], keys.private_key_pem(key), private=True)
        _write(paths[1], keys.certificate_pem(cert))
        _write(paths[2], keys.public_key_pem(key.public_key()))
    except RunnerError as exc:
        return _fail(exc)
    kind = "dev certificate" if args.cn == keys.DEV_COMMON_NAME else "certificate"
    out.write(f"signing key: {paths[0]}\n{kind}: {paths[1]} (CN={args.cn})\n")
    out.write(f"public key: {paths[2]}\n")
    out.write(f"PACK_PUBLIC_KEY={keys.env_public_key(key.public_key())}\n")
    return 0


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    try:
        if private:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        else:
            path.write_bytes(data)
    except OSError as exc:
        raise PackError(f"failed to write {path}: {exc.strerror or exc}") from exc


def handle_verify(args: argparse.Namespace, out: TextIO, stdin: TextIO | None = None) -> int:
    """``pack verify PACK [--strict] [--public-key PEM]``: one line, exit 0 or 1."""
    try:
        opened = _open(args)
    except RunnerError as exc:
        return _fail(exc)
    runtime = opened.runtime  # warnings were logged by the reader
    out.write(
        f"ok: {args.pack}: {runtime.pack_id}@{runtime.version} ({runtime.generation}); "
        f"{opened.report.summary()}\n"
    )
    return 0


def handle_inspect(args: argparse.Namespace, out: TextIO, stdin: TextIO | None = None) -> int:
    """``pack inspect PACK [--json]``."""
    try:
        opened = _open(args)
        info = describe(opened)
    except RunnerError as exc:
        return _fail(exc)
    if args.json:
        out.write(json.dumps(info, indent=2, sort_keys=False) + "\n")
    else:
        out.write(_text(info))
    return 0


def describe(opened: OpenedPack) -> dict[str, Any]:
    """The facts ``pack inspect`` prints, as JSON-ready data."""
    from .packs.providers import ProviderRegistry

    runtime, report = opened.runtime, opened.report
    entry_flows = runtime.metadata.entry_flows
    providers: list[dict[str, Any]] | dict[str, str]
    try:
        registry = ProviderRegistry.for_pack(runtime)
        decls = registry.declarations if registry is not None else ()
        providers = [
            {
                "provider_type": d.provider_type,
                "component_ref": d.runtime.component_ref,
                "ops": list(d.ops),
            }
            for d in decls
        ]
    except RunnerError as exc:
        providers = {"error": str(exc)}
    info: dict[str, Any] = {
        "pack_id": runtime.pack_id,
        "version": runtime.version,
        "generation": runtime.generation,
        "kind": runtime.kind,
        "digest": runtime.digest,
        "signature": {
            "status": report.signature_status,
            "signer": report.signer,
            "key_fingerprint": report.key_fingerprint,
            "policy": report.policy,
        },
        "sbom": {"file": report.sbom_file, "files": len(report.sbom)},
        "entry_flows": list(entry_flows),
        "flows": [
            {
                "id": flow.id,
                "type": flow.flow_type,
                "entry": flow.id in entry_flows and flow.entry,
                "start": flow.start_node,
                "tags": list(flow.tags),
                "nodes": [
                    {"id": n.id, "component": n.component, "operation": n.operation}
                    for n in flow.nodes.values()
                ],
            }
            for flow in runtime.flows.values()
        ],
        "components": [
            {
                "id": c.id,
                "version": c.version,
                "world": c.world,
                "bundled": c.wasm_path is not None,
                "wasm_path": c.wasm_path,
                "source_ref": c.source_ref,
            }
            for c in runtime.components.values()
        ],
        "extensions": sorted(runtime.extensions),
        "providers": providers,
        "warnings": list(report.warnings),
    }
    if isinstance(opened.manifest, PackV1Manifest):
        info["entrypoints"] = derive_entry_flows(opened.manifest)
    return info


def _text(info: dict[str, Any]) -> str:
    signature = info["signature"]
    lines = [
        f"pack {info['pack_id']}@{info['version']} ({info['generation']}, kind {info['kind']})",
        f"digest: {info['digest'] or '-'}",
        f"signature: {signature['status']}"
        + (
            f" (CN={signature['signer']}, key {signature['key_fingerprint']})"
            if signature["signer"]
            else ""
        ),
        f"sbom: {info['sbom']['files']} files in {info['sbom']['file'] or '-'}",
        f"entry flows: {', '.join(info['entry_flows']) or '-'}",
        "flows:",
    ]
    for flow in info["flows"]:
        entry = ", entry" if flow["entry"] else ""
        lines.append(f"  {flow['id']} (type {flow['type']}{entry}, start {flow['start']})")
        for node in flow["nodes"]:
            op = f" op {node['operation']}" if node["operation"] else ""
            lines.append(f"    - {node['id']}: {node['component']}{op}")
    lines.append("components:" if info["components"] else "components: -")
    for c in info["components"]:
        bundled = f"bundled {c['wasm_path']}" if c["bundled"] else "not bundled"
        source = f", source {c['source_ref']}" if c["source_ref"] else ""
        lines.append(
            f"  {c['id']}@{c['version'] or '?'} world {c['world'] or '?'} ({bundled}{source})"
        )
    lines.append(f"extensions: {', '.join(info['extensions']) or '-'}")
    providers = info["providers"]
    if isinstance(providers, dict):
        lines.append(f"providers: {providers['error']}")
    else:
        names = [p["provider_type"] for p in providers]
        lines.append(f"providers: {', '.join(names) or '-'}")
    lines.extend(f"warning: {w}" for w in info["warnings"])
    return "\n".join(lines) + "\n"

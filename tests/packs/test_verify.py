"""SBOM, signatures, policies, component manifests and pins (packs/verify.py, packs/keys.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import blake3
import pytest
from tests.packs.packkit import INDEX, SIGNED, UNSIGNED, UPSTREAM, read_entries, rewrite

from greentic_runner.errors import PackError, RunnerError, VerificationError
from greentic_runner.flows.model import Flow, Node
from greentic_runner.packs import cbor, keys
from greentic_runner.packs.build import Signer, build_archive
from greentic_runner.packs.gtpack import open_gtpack
from greentic_runner.packs.pack import ComponentSpec
from greentic_runner.packs.verify import (
    VerifyPolicy,
    parse_sbom,
    signature_digest,
    verify_index_entry,
    verify_sha256_pin,
)
from greentic_runner.testing import make_pack

DEV = VerifyPolicy()
STRICT = VerifyPolicy(strict=True)


def _sbom_without(name: str) -> bytes:
    doc = json.loads(read_entries(SIGNED)["sbom.json"])
    doc["files"] = [f for f in doc["files"] if f["path"] != name]
    return json.dumps(doc, indent=2).encode()


# --------------------------------------------------------------------------- the fixtures


def test_signed_fixture_verifies_under_the_dev_policy() -> None:
    opened = open_gtpack(SIGNED, DEV)
    report = opened.report
    assert report.signature_status == "verified-dev"
    assert report.signer == "greentic-dev-local"
    envelope = json.loads(read_entries(SIGNED)["signatures/pack.sig"])
    assert report.key_fingerprint == envelope["key_fingerprint"]
    assert report.sbom_file == "sbom.json" and len(report.sbom) == 6
    assert report.warnings == []
    assert opened.runtime.signature_status == "verified-dev"


def test_signature_digest_reproduces_the_fixture_envelope() -> None:
    entries = read_entries(SIGNED)
    sbom = parse_sbom(entries["sbom.json"], "sbom.json", json_format=True)
    digest = signature_digest(entries["manifest.cbor"], entries["sbom.json"], sbom)
    assert digest.hex() == json.loads(entries["signatures/pack.sig"])["digest"]


def test_strict_policy_rejects_the_dev_certificate() -> None:
    with pytest.raises(VerificationError, match="dev self-signed certificate is not allowed"):
        open_gtpack(SIGNED, STRICT)


def test_unsigned_fixture_warns_under_dev_and_fails_under_strict() -> None:
    opened = open_gtpack(UNSIGNED, DEV)
    assert opened.report.signature_status == "unsigned"
    assert any("signature files missing" in w for w in opened.report.warnings)
    with pytest.raises(VerificationError, match="signature required by the strict policy"):
        open_gtpack(UNSIGNED, STRICT)


def test_fixture_digest_matches_the_upstream_index() -> None:
    index = json.loads(INDEX.read_text())
    assert open_gtpack(SIGNED, DEV).runtime.digest == index["acme"]["main_pack"]["digest"]


# --------------------------------------------------------------------------- tampering


def _tamper_manifest_byte(tmp_path: Path) -> Path:
    manifest = bytearray(read_entries(SIGNED)["manifest.cbor"])
    manifest[-1] ^= 0x01
    return rewrite(SIGNED, tmp_path / "t.gtpack", {"manifest.cbor": bytes(manifest)})


def _tamper_flow(tmp_path: Path) -> Path:
    flow = b'{"entry":"start","id":"qa","kind":"flow/v1","nodes":[{"evil":1}]}'
    return rewrite(SIGNED, tmp_path / "t.gtpack", {"flows/qa/flow.json": flow})


def _remove_sbom_line(tmp_path: Path) -> Path:
    return rewrite(SIGNED, tmp_path / "t.gtpack", {"sbom.json": _sbom_without("provenance.json")})


def _swap_signature(tmp_path: Path) -> Path:
    other = rewrite(UNSIGNED, tmp_path / "other.gtpack", {})
    key = keys.generate_key()
    signer = Signer(key, keys.certificate_pem(keys.self_signed_certificate(key)))
    entries = read_entries(other)
    sbom = parse_sbom(entries["sbom.json"], "sbom.json", json_format=True)
    digest = signature_digest(entries["manifest.cbor"], entries["sbom.json"], sbom)
    envelope = {
        "alg": "ed25519",
        "sig": base64.urlsafe_b64encode(signer.key.sign(digest)).decode().rstrip("="),
        "digest": digest.hex(),
        "signed_at_utc": "2025-01-01T00:00:00Z",
    }
    return rewrite(
        SIGNED,
        tmp_path / "t.gtpack",
        {
            "signatures/pack.sig": json.dumps(envelope).encode(),
            "signatures/chain.pem": signer.chain_pem,
        },
    )


def _forge_signature_bytes(tmp_path: Path) -> Path:
    envelope = json.loads(read_entries(SIGNED)["signatures/pack.sig"])
    envelope["sig"] = base64.urlsafe_b64encode(bytes(64)).decode().rstrip("=")
    return rewrite(
        SIGNED, tmp_path / "t.gtpack", {"signatures/pack.sig": json.dumps(envelope).encode()}
    )


def _consistent_sbom_rewrite(tmp_path: Path) -> Path:
    """The attacker also fixes the SBOM: only the signature can notice."""
    entries = read_entries(SIGNED)
    flow = b'{"entry":"start","id":"qa","kind":"flow/v1","nodes":[]}  '
    doc = json.loads(entries["sbom.json"])
    for item in doc["files"]:
        if item["path"] == "flows/qa/flow.json":
            item["hash_blake3"], item["size"] = blake3.blake3(flow).hexdigest(), len(flow)
    return rewrite(
        SIGNED,
        tmp_path / "t.gtpack",
        {"flows/qa/flow.json": flow, "sbom.json": json.dumps(doc).encode()},
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_tamper_manifest_byte, "hash mismatch for manifest.cbor"),
        (_tamper_flow, "hash mismatch for flows/qa/flow.json"),
        (_remove_sbom_line, "file `provenance.json` missing from sbom.json"),
        (_swap_signature, "signature digest mismatch"),
        (_forge_signature_bytes, "signature verification failed"),
        (_consistent_sbom_rewrite, "signature digest mismatch"),
    ],
    ids=["manifest-byte", "flow", "sbom-line", "swapped-signature", "forged-bytes", "sbom-rewrite"],
)
@pytest.mark.parametrize("policy", [DEV, STRICT], ids=["dev", "strict"])
def test_tampered_copies_fail_with_the_right_reason(
    tmp_path: Path, tamper: object, reason: str, policy: VerifyPolicy
) -> None:
    path = tamper(tmp_path)  # type: ignore[operator]
    if policy.strict and reason == "signature verification failed":
        reason = "dev self-signed certificate is not allowed"  # strict stops at the cert
    with pytest.raises(VerificationError) as err:
        open_gtpack(path, policy)
    assert reason in str(err.value)
    assert str(path) in str(err.value)


def test_untouched_rewrite_still_verifies(tmp_path: Path) -> None:
    copy = rewrite(SIGNED, tmp_path / "copy.gtpack", {})
    assert open_gtpack(copy, DEV).report.signature_status == "verified-dev"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"signatures/chain.pem": None}, "signature files incomplete: `signatures/chain.pem`"),
        ({"signatures/pack.sig": b"not json"}, "pack.sig is not valid JSON"),
        ({"signatures/pack.sig": b'{"alg": "ed25519"}'}, "lacks alg, sig or digest"),
        ({"signatures/chain.pem": b"garbage"}, "certificate chain signatures/chain.pem"),
        ({"sbom.json": None}, "signature present but the SBOM is missing"),
        ({"sbom.json": b'{"format": "other", "files": []}'}, "unexpected SBOM format: other"),
        ({"extra.txt": b"smuggled"}, "file `extra.txt` missing from sbom.json"),
    ],
    ids=["no-chain", "sig-json", "sig-fields", "chain-pem", "no-sbom", "sbom-format", "extra-file"],
)
def test_broken_signature_material_is_rejected(
    tmp_path: Path, changes: dict[str, bytes | None], reason: str
) -> None:
    path = rewrite(SIGNED, tmp_path / "t.gtpack", changes)
    with pytest.raises(VerificationError, match=reason.replace("`", ".")):
        open_gtpack(path, DEV)


def test_legacy_pack_without_sbom_is_rejected(tmp_path: Path) -> None:
    path = rewrite(UNSIGNED, tmp_path / "t.gtpack", {"sbom.json": None})
    with pytest.raises(VerificationError, match="sbom.json missing from archive"):
        open_gtpack(path, DEV)


def test_two_certificate_chain_is_a_dev_warning(tmp_path: Path) -> None:
    chain = read_entries(SIGNED)["signatures/chain.pem"]
    path = rewrite(SIGNED, tmp_path / "t.gtpack", {"signatures/chain.pem": chain + b"\n" + chain})
    report = open_gtpack(path, DEV).report
    assert report.signature_status == "verified-dev"
    assert any("chain contains 2 certificates" in w for w in report.warnings)


def test_dangling_sbom_fixture_is_rejected(tmp_path: Path) -> None:
    dangling = UPSTREAM / "greentic-pack/crates/packc/tests/fixtures/packs/sbom-dangling/sbom.json"
    path = rewrite(UNSIGNED, tmp_path / "t.gtpack", {"sbom.json": dangling.read_bytes()})
    with pytest.raises(VerificationError, match="sbom references missing file `missing.txt`"):
        open_gtpack(path, DEV)


# --------------------------------------------------------------------------- pinned keys, real signers


def _signed_pack(tmp_path: Path, common_name: str) -> tuple[Path, keys.Ed25519PrivateKey]:
    key = keys.generate_key()
    signer = Signer(key, keys.certificate_pem(keys.self_signed_certificate(key, common_name)))
    flow = Flow(
        id="main", flow_type="messaging", nodes={"a": Node(id="a", component="emit.response")}
    )
    pack = make_pack("acme.signed", [flow], version="1.0.0")
    path = tmp_path / f"{common_name}.gtpack"
    path.write_bytes(build_archive(pack, signer=signer).data)
    return path, key


def test_strict_accepts_a_release_certificate_and_checks_the_pin(tmp_path: Path) -> None:
    path, key = _signed_pack(tmp_path, "acme-release")
    report = open_gtpack(path, STRICT).report
    assert (report.signature_status, report.signer) == ("verified", "acme-release")
    assert report.key_fingerprint == keys.key_fingerprint(key.public_key())
    pinned = VerifyPolicy(strict=True, public_key=key.public_key())
    assert open_gtpack(path, pinned).report.signature_status == "verified"
    stranger = VerifyPolicy(strict=True, public_key=keys.generate_key().public_key())
    with pytest.raises(VerificationError, match="not signed by the pinned public key"):
        open_gtpack(path, stranger)


def test_a_pinned_key_requires_a_signature_even_in_dev(tmp_path: Path) -> None:
    pinned = VerifyPolicy(strict=False, public_key=keys.generate_key().public_key())
    with pytest.raises(VerificationError, match="a public key is pinned"):
        open_gtpack(UNSIGNED, pinned)


def test_policy_from_arguments_and_environment(tmp_path: Path) -> None:
    key = keys.generate_key()
    env_key = keys.env_public_key(key.public_key())
    assert VerifyPolicy.resolve(environ={}) == VerifyPolicy(strict=False)
    assert VerifyPolicy.resolve(environ={"PACK_VERIFY_STRICT": "1"}).strict
    assert VerifyPolicy.resolve(environ={"PACK_VERIFY_STRICT": "TRUE"}).strict
    assert not VerifyPolicy.resolve(environ={"PACK_VERIFY_STRICT": "0"}).strict
    pinned = VerifyPolicy.resolve(environ={"PACK_PUBLIC_KEY": env_key})
    assert pinned.strict  # a key alone turns strict on, as in the reference
    assert pinned.public_key is not None
    assert keys.raw_public_key(pinned.public_key) == keys.raw_public_key(key.public_key())
    relaxed = VerifyPolicy.resolve(environ={"PACK_PUBLIC_KEY": env_key, "PACK_VERIFY_STRICT": "0"})
    assert not relaxed.strict and relaxed.public_key is not None
    assert not VerifyPolicy.resolve(strict=False, environ={"PACK_VERIFY_STRICT": "1"}).strict
    pem = tmp_path / "public.pem"
    pem.write_bytes(keys.public_key_pem(key.public_key()))
    from_arg = VerifyPolicy.resolve(public_key=str(pem), environ={"PACK_PUBLIC_KEY": "ed25519:AA"})
    assert from_arg.public_key is not None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("ed25519:!!!", "not valid base64"),
        ("ed25519:Zm9v", "must be 32 bytes"),
        ("rsa:Zm9v", "unsupported public key algorithm `rsa`"),
        ("/nonexistent/key.pem", "neither"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key"),
    ],
)
def test_bad_public_keys_are_rejected(value: str, reason: str) -> None:
    with pytest.raises(PackError, match=reason):
        keys.parse_public_key(value)


def test_public_key_forms(tmp_path: Path) -> None:
    key = keys.generate_key()
    raw = keys.raw_public_key(key.public_key())
    cert = keys.certificate_pem(keys.self_signed_certificate(key))
    pem = keys.public_key_pem(key.public_key())
    (tmp_path / "cert.pem").write_bytes(cert)
    unpadded = keys.env_public_key(key.public_key()).rstrip("=")
    for value in (unpadded, pem.decode(), cert.decode(), str(tmp_path / "cert.pem")):
        assert keys.raw_public_key(keys.parse_public_key(value)) == raw


def test_dev_certificate_shape_matches_the_fixture() -> None:
    key = keys.generate_key()
    cert = keys.self_signed_certificate(key)
    assert keys.is_dev_certificate(cert)
    assert not keys.is_dev_certificate(keys.self_signed_certificate(key, "acme"))
    serial = hashlib.sha256(keys.raw_public_key(key.public_key())).digest()[:20]
    assert cert.serial_number == int.from_bytes(serial, "big") & ((1 << 159) - 1)
    fixture = keys.parse_certificate_chain(read_entries(SIGNED)["signatures/chain.pem"], "f")[0]
    assert keys.is_dev_certificate(fixture)
    assert fixture.not_valid_before_utc == cert.not_valid_before_utc


# --------------------------------------------------------------------------- component manifests


def _component_pack(tmp_path: Path) -> Path:
    spec = ComponentSpec(
        id="acme.echo",
        version="1.0.0",
        world="greentic:component/component@0.6.0",
        wasm_path="components/acme.echo.wasm",
        manifest={
            "id": "acme.echo",
            "version": "1.0.0",
            "world": "greentic:component/component@0.6.0",
        },
    )
    pack = make_pack(
        "acme.components",
        [],
        version="1.0.0",
        components={"acme.echo": spec},
        files={"components/acme.echo.wasm": b"\0asm\1\0\0\0"},
    )
    path = tmp_path / "components.gtpack"
    path.write_bytes(build_archive(pack).data)
    return path


def _resbom(entries: dict[str, bytes]) -> bytes:
    files = [
        {"path": n, "size": len(d), "media_type": "x", "hash_blake3": blake3.blake3(d).hexdigest()}
        for n, d in sorted(entries.items())
        if n != "sbom.cbor"
    ]
    return cbor.encode_canonical({"format": "greentic-sbom-v1", "files": files})


def test_component_manifest_hashes_are_checked(tmp_path: Path) -> None:
    path = _component_pack(tmp_path)
    runtime = open_gtpack(path, DEV).runtime
    assert runtime.components["acme.echo"].wasm_path == "components/acme.echo.wasm"
    entries = read_entries(path)
    entries["components/acme.echo.manifest.cbor"] = cbor.encode_canonical({"id": "acme.other"})
    entries["sbom.cbor"] = _resbom(entries)  # an unsigned pack: the SBOM alone cannot help
    tampered = rewrite(path, tmp_path / "t.gtpack", entries)
    with pytest.raises(VerificationError, match="content hash mismatch"):
        open_gtpack(tampered, DEV)


def test_component_manifest_id_must_match(tmp_path: Path) -> None:
    path = _component_pack(tmp_path)
    entries = read_entries(path)
    other = cbor.encode_canonical({"id": "acme.other"})
    entries["components/acme.echo.manifest.cbor"] = other
    manifest = cbor.decode(entries["manifest.cbor"], "m")
    ext = manifest["extensions"]["greentic.pack.component_manifests@v1"]
    ext["inline"]["entries"][0]["content_hash"] = "sha256:" + hashlib.sha256(other).hexdigest()
    entries["manifest.cbor"] = cbor.encode_ordered(manifest)
    entries["sbom.cbor"] = _resbom(entries)
    tampered = rewrite(path, tmp_path / "t.gtpack", entries)
    with pytest.raises(VerificationError, match="declares id `acme.other`, expected `acme.echo`"):
        open_gtpack(tampered, DEV)


# --------------------------------------------------------------------------- pins


def test_sha256_pin_messages(tmp_path: Path) -> None:
    digest = "sha256:" + hashlib.sha256(SIGNED.read_bytes()).hexdigest()
    verify_sha256_pin(SIGNED, digest)
    verify_sha256_pin(SIGNED, digest.upper().replace("SHA256", "sha256"))
    path = SIGNED
    with pytest.raises(VerificationError) as err:
        verify_sha256_pin(path, "deadbeef")
    assert str(err.value) == f"revision pack `{path}` has an invalid digest `deadbeef`"
    with pytest.raises(VerificationError) as err:
        verify_sha256_pin(path, "md5:abc")
    assert str(err.value) == (
        f"revision pack `{path}` pins unsupported digest algorithm `md5`; only sha256 is supported"
    )
    with pytest.raises(VerificationError) as err:
        verify_sha256_pin(path, "sha256:" + "0" * 64)
    assert (
        str(err.value) == f"revision pack `{path}` does not match pinned digest `sha256:{'0' * 64}`"
    )
    with pytest.raises(PackError, match="for digest verification"):
        verify_sha256_pin(tmp_path / "gone.gtpack", digest)


def test_index_entry_digest_and_signature() -> None:
    key = keys.generate_key()
    digest = "sha256:" + hashlib.sha256(SIGNED.read_bytes()).hexdigest()
    signature = base64.b64encode(key.sign(digest.encode())).decode()
    policy = VerifyPolicy(strict=True, public_key=key.public_key())
    assert verify_index_entry("demo", SIGNED, digest, signature, policy) == digest
    with pytest.raises(VerificationError, match="digest mismatch for demo: expected sha256:00"):
        verify_index_entry("demo", SIGNED, "sha256:00", None, DEV)
    with pytest.raises(VerificationError, match="signature missing for pack demo"):
        verify_index_entry("demo", SIGNED, digest, None, policy)
    with pytest.raises(VerificationError, match="pack signature verification failed"):
        verify_index_entry("demo", SIGNED, digest, base64.b64encode(bytes(64)).decode(), policy)


def test_every_failure_is_a_runner_error(tmp_path: Path) -> None:
    for tamper in (_tamper_manifest_byte, _tamper_flow, _remove_sbom_line):
        with pytest.raises(RunnerError):
            open_gtpack(tamper(tmp_path), DEV)

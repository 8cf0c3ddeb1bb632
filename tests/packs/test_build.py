"""The deterministic pack-v1 writer (packs/build.py), round trips and the ``pack`` commands."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.packs.packkit import SIGNED, SOURCE_PACKS, UNSIGNED, read_entries

from greentic_runner.cli import main
from greentic_runner.errors import PackError
from greentic_runner.packs import cbor, keys
from greentic_runner.packs.build import Signer, build_archive, build_pack
from greentic_runner.packs.gtpack import open_gtpack
from greentic_runner.packs.loader import load_pack
from greentic_runner.packs.pack import PackRuntime
from greentic_runner.packs.verify import VerifyPolicy
from greentic_runner.testing import write_pack_dir

DEV = VerifyPolicy()

CONVERSATION = """\
id: hello
type: messaging
start: ask
tags: [greeting]
parameters:
  punctuation: "!"
nodes:
  ask:
    qa.process:
      welcome: "Hi!"
      questions:
        - id: name
          prompt: "What is your name?"
          answer_type: text
    routing:
      - to: greet
  greet:
    templating.handlebars:
      text: "Hello {{ask.payload.name}}{{parameters.punctuation}}"
    retry:
      max_attempts: 2
    routing: out
"""


def _signer(common_name: str = keys.DEV_COMMON_NAME) -> Signer:
    key = keys.generate_key()
    return Signer(key, keys.certificate_pem(keys.self_signed_certificate(key, common_name)))


def _conversation_pack(tmp_path: Path) -> Path:
    root = write_pack_dir(tmp_path / "conv", "demo.conv", {"hello": CONVERSATION})
    (root / "pack.yaml").write_text(
        "pack_id: demo.conv\nversion: 0.1.0\n"
        "flows:\n  - id: hello\n    file: flows/hello.ygtc\n    entrypoints: [default]\n"
        "assets:\n  - path: cards\n"
    )
    (root / "cards").mkdir()
    (root / "cards" / "welcome.json").write_text('{"type": "AdaptiveCard"}')
    (root / "assets").mkdir()
    (root / "assets" / "logo.txt").write_text("logo")
    return root


def _read_back(tmp_path: Path, data: bytes, name: str = "built.gtpack") -> PackRuntime:
    path = tmp_path / name
    path.write_bytes(data)
    return open_gtpack(path, DEV).runtime


def _same_flows(a: PackRuntime, b: PackRuntime) -> None:
    assert list(a.flows) == list(b.flows)
    for flow_id, flow in a.flows.items():
        assert replace(b.flows[flow_id], source=None) == replace(flow, source=None)


# --------------------------------------------------------------------------- determinism


def test_building_twice_gives_identical_bytes(tmp_path: Path) -> None:
    pack = load_pack(_conversation_pack(tmp_path))
    signer = _signer()
    assert build_archive(pack).data == build_archive(load_pack(pack.source)).data
    assert build_archive(pack, signer=signer).data == build_archive(pack, signer=signer).data


def test_archive_layout_is_stored_sorted_and_dated_1980(tmp_path: Path) -> None:
    data = build_archive(load_pack(_conversation_pack(tmp_path)), signer=_signer()).data
    path = tmp_path / "x.gtpack"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert names == [
        "assets/cards/welcome.json",
        "assets/logo.txt",
        "manifest.cbor",
        "sbom.cbor",
        "signatures/chain.pem",
        "signatures/pack.sig",
    ]
    for info in infos:
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
    sbom = cbor.decode(read_entries(path)["sbom.cbor"], "sbom")
    assert sbom["format"] == "greentic-sbom-v1"
    assert [f["path"] for f in sbom["files"]] == names[:3]
    envelope = json.loads(read_entries(path)["signatures/pack.sig"])
    assert envelope["signed_at_utc"] == "1980-01-01T00:00:00Z"


def test_source_date_epoch_sets_the_signing_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    path = tmp_path / "x.gtpack"
    path.write_bytes(build_archive(load_pack(_conversation_pack(tmp_path)), signer=_signer()).data)
    envelope = json.loads(read_entries(path)["signatures/pack.sig"])
    assert envelope["signed_at_utc"] == "2025-01-01T00:00:00Z"


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", sorted(SOURCE_PACKS))
def test_source_packs_round_trip_to_the_same_runtime_model(tmp_path: Path, name: str) -> None:
    directory = load_pack(SOURCE_PACKS[name])
    archive = _read_back(tmp_path, build_archive(directory).data)
    assert archive.generation == "pack-v1"
    assert (archive.pack_id, archive.version) == (directory.pack_id, directory.version)
    _same_flows(directory, archive)
    assert archive.declared_entry_flows == directory.declared_entry_flows
    assert archive.metadata == directory.metadata
    assert list(archive.components) == list(directory.components)
    for cid, spec in directory.components.items():
        got = archive.components[cid]
        assert replace(got, manifest={}) == replace(spec, manifest={})
        if spec.manifest:
            assert got.manifest == {**spec.manifest, "id": cid}
    for descriptor in directory.descriptors():
        assert descriptor in archive.descriptors()


def test_declared_assets_are_readable_the_same_way(tmp_path: Path) -> None:
    directory = load_pack(_conversation_pack(tmp_path))
    archive = _read_back(tmp_path, build_archive(directory).data)
    for asset in ("cards/welcome.json", "logo.txt", "assets/logo.txt"):
        assert archive.read_asset(asset) == directory.read_asset(asset)
    _same_flows(directory, archive)
    flow = archive.flows["hello"]
    assert flow.parameters == {"punctuation": "!"}
    assert flow.nodes["greet"].extra == {"retry": {"max_attempts": 2}}
    assert flow.tags == ("greeting",)


def test_round_trip_keeps_unknown_extensions(tmp_path: Path) -> None:
    extension = {"kind": "acme.custom.v1", "version": "1.0.0", "inline": {"x": [1, 2]}}
    root = _conversation_pack(tmp_path)
    text = (root / "pack.yaml").read_text() + "extensions:\n  acme.custom.v1:\n"
    text += "    kind: acme.custom.v1\n    version: 1.0.0\n    inline: {x: [1, 2]}\n"
    (root / "pack.yaml").write_text(text)
    archive = _read_back(tmp_path, build_archive(load_pack(root)).data)
    assert archive.extensions["acme.custom.v1"] == extension
    assert archive.extensions["greentic.pack-mode.v1"]["inline"] == {"mode": "prod"}


def test_a_built_archive_rebuilds_to_the_same_bytes(tmp_path: Path) -> None:
    first = build_archive(load_pack(_conversation_pack(tmp_path))).data
    path = tmp_path / "first.gtpack"
    path.write_bytes(first)
    assert build_archive(load_pack(path)).data == first


def _turns(pack: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    replies = []
    for text in ("hi", "Ada"):
        code = main(["run", str(pack), "--text", text, "--store", f"sqlite:{store}"])
        out = capsys.readouterr().out
        assert code == 0, out
        replies.extend(_without_correlation(json.loads(line)) for line in out.splitlines())
    return replies


def _without_correlation(value: Any) -> Any:
    """Correlation ids are random per turn; everything else must match."""
    if isinstance(value, dict):
        return {k: _without_correlation(v) for k, v in value.items() if k != "correlation"}
    if isinstance(value, list):
        return [_without_correlation(v) for v in value]
    return value


def test_archive_runs_the_same_conversation_as_the_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _conversation_pack(tmp_path)
    archive = tmp_path / "conv.gtpack"
    build_pack(root, archive)
    from_dir = _turns(root, tmp_path / "dir.db", capsys)
    from_archive = _turns(archive, tmp_path / "archive.db", capsys)
    assert from_archive == from_dir
    assert from_dir[-1]["payload"] == {"text": "Hello Ada!"}


def test_run_accepts_the_legacy_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    pack = load_pack(SIGNED)
    assert pack.generation == "legacy" and list(pack.flows) == ["qa"]
    assert pack.metadata.entry_flows == ("qa",)


def test_load_pack_reads_a_materialised_directory(tmp_path: Path) -> None:
    root = tmp_path / "materialised"
    for name, data in read_entries(UNSIGNED).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    pack = load_pack(root)
    assert (pack.pack_id, pack.generation, pack.digest) == (
        "ai.greentic.demo.local",
        "legacy",
        None,
    )
    assert pack.components["demo-component"].wasm_path is not None
    pinned = load_pack(SIGNED, digest="sha256:abc")
    assert pinned.digest == "sha256:abc"


# --------------------------------------------------------------------------- options and errors


def test_dev_build_keeps_sources_and_mode(tmp_path: Path) -> None:
    root = _conversation_pack(tmp_path)
    path = tmp_path / "dev.gtpack"
    build_pack(root, path, dev=True)
    entries = read_entries(path)
    assert entries["flows/hello/flow.ygtc"] == (root / "flows" / "hello.ygtc").read_bytes()
    assert entries["pack.yaml"] == (root / "pack.yaml").read_bytes()
    runtime = open_gtpack(path, DEV).runtime
    assert runtime.extensions["greentic.pack-mode.v1"]["inline"] == {"mode": "dev"}


def test_non_semver_version_cannot_be_built(tmp_path: Path) -> None:
    root = write_pack_dir(tmp_path / "p", "acme.p", {"hello": CONVERSATION}, version="1.0")
    with pytest.raises(PackError, match="needs a semantic version"):
        build_archive(load_pack(root))


def test_signer_chain_must_hold_the_key(tmp_path: Path) -> None:
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(keys.private_key_pem(keys.generate_key()))
    other = keys.certificate_pem(keys.self_signed_certificate(keys.generate_key()))
    (tmp_path / "chain.pem").write_bytes(other)
    with pytest.raises(PackError, match="does not hold the public key"):
        Signer.from_files(key_path)
    (tmp_path / "chain.pem").unlink()
    signer = Signer.from_files(key_path)  # no chain beside the key: a dev certificate
    cert = keys.parse_certificate_chain(signer.chain_pem, "chain")[0]
    assert keys.is_dev_certificate(cert)


def test_bad_signing_key_file(tmp_path: Path) -> None:
    key_path = tmp_path / "key.pem"
    key_path.write_text("not a key")
    with pytest.raises(PackError, match="is not a PEM private key"):
        Signer.from_files(key_path)
    with pytest.raises(PackError, match="failed to read signing key"):
        Signer.from_files(tmp_path / "absent.pem")


# --------------------------------------------------------------------------- the commands


def test_keygen_build_verify_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _conversation_pack(tmp_path)
    keydir = tmp_path / "keys"
    assert main(["pack", "keygen", "-o", str(keydir), "--cn", "acme-release"]) == 0
    out = capsys.readouterr().out
    assert "PACK_PUBLIC_KEY=ed25519:" in out
    assert (keydir / "pack-signing.key.pem").stat().st_mode & 0o777 == 0o600
    assert main(["pack", "keygen", "-o", str(keydir)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err

    archive = tmp_path / "out" / "conv.gtpack"
    key = str(keydir / "pack-signing.key.pem")
    assert main(["pack", "build", str(root), "-o", str(archive), "--sign", key]) == 0
    assert "signed" in capsys.readouterr().out

    public = str(keydir / "public.pem")
    assert main(["pack", "verify", str(archive), "--strict", "--public-key", public]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and line.startswith(f"ok: {archive}: demo.conv@0.1.0 (pack-v1)")
    assert "signature verified (CN=acme-release)" in line and "policy strict" in line

    assert main(["pack", "inspect", str(archive), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["signature"]["status"] == "verified"
    assert info["flows"][0]["id"] == "hello" and info["flows"][0]["entry"] is True
    assert [n["component"] for n in info["flows"][0]["nodes"]] == [
        "qa.process",
        "templating.handlebars",
    ]
    assert main(["pack", "inspect", str(archive)]) == 0
    text = capsys.readouterr().out
    assert "hello (type messaging, entry, start ask)" in text


def test_verify_fails_with_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pack", "verify", str(SIGNED), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "dev self-signed certificate" in err
    bad = tmp_path / "bad.gtpack"
    bad.write_bytes(b"nope")
    assert main(["pack", "verify", str(bad)]) == 1
    assert "is not a valid gtpack archive" in capsys.readouterr().err


def test_verify_policy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PACK_VERIFY_STRICT", "true")
    assert main(["pack", "verify", str(UNSIGNED)]) == 1
    assert "signature required by the strict policy" in capsys.readouterr().err
    monkeypatch.setenv("PACK_VERIFY_STRICT", "0")
    assert main(["pack", "verify", str(UNSIGNED)]) == 0
    assert "unsigned; policy dev" in capsys.readouterr().out


def test_inspect_the_legacy_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack", "inspect", str(SIGNED), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["generation"] == "legacy"
    assert info["signature"]["signer"] == "greentic-dev-local"
    assert info["components"] == [
        {
            "id": "demo.component",
            "version": "1.0.0",
            "world": None,
            "bundled": True,
            "wasm_path": "components/demo.component@1.0.0/component.wasm",
            "source_ref": None,
        }
    ]
    assert info["entry_flows"] == ["qa"]


def test_build_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack", "build", str(tmp_path / "absent"), "-o", str(tmp_path / "x.gtpack")]) == 1
    assert capsys.readouterr().err.startswith("error: pack path")
    chain = str(tmp_path / "chain.pem")
    assert main(["pack", "build", str(tmp_path), "-o", "x.gtpack", "--chain", chain]) == 1
    assert "--chain needs --sign" in capsys.readouterr().err

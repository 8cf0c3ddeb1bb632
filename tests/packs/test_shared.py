"""SharedPacks: one parse per pack content, a runtime per load; an edited pack is parsed again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from greentic_runner.config import HostConfig
from greentic_runner.errors import FlowError, PackError
from greentic_runner.host import HostBuilder
from greentic_runner.packs import shared
from greentic_runner.packs.shared import SHARED_PACKS, SharedPacks, fingerprint
from greentic_runner.packs.source import load_pack_dir

FLOW = "id: {id}\ntype: messaging\nnodes:\n  a:\n    template: {text}\n    routing: out\n"


def make_pack(root: Path, text: str = "hi") -> Path:
    (root / "flows").mkdir(parents=True)
    (root / "pack.yaml").write_text("pack_id: demo\nversion: 1.0.0\n")
    (root / "flows/main.ygtc").write_text(FLOW.format(id="main", text=text))
    return root


def test_loads_of_one_pack_share_the_parse_not_the_runtime(tmp_path: Path) -> None:
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack")
    first, second = packs.load(root), packs.load(root)
    assert first is not second
    assert first.flows["main"] is second.flows["main"]
    assert first.files is second.files
    assert first.flows == load_pack_dir(root).flows
    assert len(packs) == 1
    first.digest = "sha256:" + "0" * 64
    first.identify_hints["probe"] = "hint"
    assert second.digest is None
    assert second.identify_hints == {}


def test_a_same_size_rewrite_keeping_the_mtime_is_parsed_again(tmp_path: Path) -> None:
    """Within one tick of the file clock only the content tells: it is hashed."""
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack", text="hi")
    before = packs.load(root)
    flow = root / "flows/main.ygtc"
    stat = flow.stat()
    flow.write_text(FLOW.format(id="main", text="ho"))  # same size, same inode
    os.utime(flow, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the old mtime back
    after = packs.load(root)
    assert after.flows != before.flows
    assert after.flows == load_pack_dir(root).flows


def test_an_old_pack_replaced_by_a_same_size_copy_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files changed long ago are stamped, not hashed; a replacement is a new inode."""
    monkeypatch.setattr(shared, "RECENT_SECS", 0.0)  # every file counts as old
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack", text="hi")
    before = packs.load(root)
    flow = root / "flows/main.ygtc"
    stat = flow.stat()
    replacement = tmp_path / "main.ygtc"
    replacement.write_text(FLOW.format(id="main", text="ho"))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, flow)
    after = packs.load(root)
    assert after.flows != before.flows
    assert after.flows == load_pack_dir(root).flows


def test_an_added_or_removed_flow_is_seen(tmp_path: Path) -> None:
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack")
    assert list(packs.load(root).flows) == ["main"]
    (root / "flows/second.ygtc").write_text(FLOW.format(id="second", text="two"))
    assert sorted(packs.load(root).flows) == ["main", "second"]
    (root / "flows/second.ygtc").unlink()
    assert list(packs.load(root).flows) == ["main"]


def test_the_pack_yaml_path_fingerprints_its_whole_directory(tmp_path: Path) -> None:
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack")
    packs.load(root / "pack.yaml")
    (root / "flows/main.ygtc").write_text(FLOW.format(id="main", text="changed"))
    assert packs.load(root / "pack.yaml").flows == load_pack_dir(root).flows


def test_a_failed_load_is_not_remembered(tmp_path: Path) -> None:
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack")
    (root / "flows/main.ygtc").write_text("id: main\nnodes: [not, a, mapping]\n")
    with pytest.raises((FlowError, PackError)):
        packs.load(root)
    assert len(packs) == 0
    (root / "flows/main.ygtc").write_text(FLOW.format(id="main", text="fixed"))
    assert packs.load(root).flows == load_pack_dir(root).flows


def test_a_missing_pack_gets_the_loaders_error(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="does not exist"):
        SharedPacks().load(tmp_path / "nowhere")


def test_verification_settings_are_part_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack")
    monkeypatch.delenv("PACK_VERIFY_STRICT", raising=False)
    relaxed = packs.load(root)
    monkeypatch.setenv("PACK_VERIFY_STRICT", "1")
    strict = packs.load(root)
    assert relaxed.flows["main"] is not strict.flows["main"]
    assert len(packs) == 2


def test_only_the_latest_content_of_a_path_is_kept(tmp_path: Path) -> None:
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack", text="one")
    old = packs.load(root)
    (root / "flows/main.ygtc").write_text(FLOW.format(id="main", text="two"))
    new = packs.load(root)
    assert len(packs) == 1  # the path's old parse is no longer held by the cache
    assert new.flows == load_pack_dir(root).flows
    assert old.flows != new.flows  # a tenant still running the old content keeps it


def test_the_least_recently_loaded_content_goes_first(tmp_path: Path) -> None:
    packs = SharedPacks(max_entries=2)
    roots = [make_pack(tmp_path / f"pack{i}") for i in range(3)]
    first = packs.load(roots[0])
    packs.load(roots[1])
    packs.load(roots[0])  # now the most recent
    packs.load(roots[2])  # drops roots[1]
    assert len(packs) == 2
    assert packs.load(roots[0]).flows["main"] is first.flows["main"]
    with pytest.raises(ValueError):
        SharedPacks(max_entries=0)


def test_a_pack_changed_while_it_was_read_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packs = SharedPacks()
    root = make_pack(tmp_path / "pack")
    real_load = shared.load_pack

    def load_then_edit(path: Path) -> object:
        loaded = real_load(path)
        (root / "flows/main.ygtc").write_text(FLOW.format(id="main", text="later"))
        return loaded

    monkeypatch.setattr(shared, "load_pack", load_then_edit)
    packs.load(root)
    assert len(packs) == 0


def test_fingerprint_hashes_only_recently_changed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "demo.gtpack"
    archive.write_bytes(b"zip bytes")
    ((name, size, _, _, _, fresh),) = fingerprint(archive)
    assert (name, size) == (str(archive), 9) and fresh.startswith("sha256:")
    monkeypatch.setattr(shared, "RECENT_SECS", 0.0)
    ((_, _, _, _, _, old),) = fingerprint(archive)
    assert old == ""


async def test_tenants_loading_one_pack_share_its_flows_and_reload_on_edit(
    tmp_path: Path,
) -> None:
    root = make_pack(tmp_path / "pack", text="hi")
    host = (
        HostBuilder()
        .with_config(HostConfig(tenant="a"))
        .with_config(HostConfig(tenant="b"))
        .build()
    )
    await host.load_pack("a", root)
    await host.load_pack("b", root)
    a, b = await host.tenant("a"), await host.tenant("b")
    assert a is not None and b is not None
    assert a.pack is not b.pack
    assert a.pack.flows["main"] is b.pack.flows["main"]
    (root / "flows/main.ygtc").write_text(FLOW.format(id="main", text="v2"))
    await host.load_pack("a", root)
    reloaded = await host.tenant("a")
    assert reloaded is not None
    assert reloaded.pack.flows == load_pack_dir(root).flows
    assert b.pack.flows["main"] is not reloaded.pack.flows["main"]  # b keeps what it loaded
    assert len(SHARED_PACKS) >= 1

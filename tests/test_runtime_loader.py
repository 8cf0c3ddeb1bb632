from __future__ import annotations

from pathlib import Path

import pytest

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig
from greentic_runner.errors import ComponentError, PackError, VerificationError
from greentic_runner.host import HostBuilder
from greentic_runner.packs.loader import load_pack
from greentic_runner.runtime_loader import PackRef, used_components
from greentic_runner.testing import write_pack_dir

HELLO = """
id: main
type: messaging
nodes:
  hi:
    templating.handlebars:
      text: "hello {{in.text}}"
    routing: out
"""

CALLS_BROKEN = """
id: main
type: messaging
nodes:
  call:
    component.exec:
      component: broken
      operation: run
      input: {}
    routing: out
"""


def pack(root: Path, flow: str, *, garbage: str | None = None) -> Path:
    write_pack_dir(root, "demo.pack", {"main": flow})
    if garbage is not None:
        (root / "components").mkdir()
        (root / "components" / f"{garbage}.wasm").write_bytes(b"\x00asm not really")
    return root


async def test_a_corrupt_component_the_flow_uses_fails_the_load_and_keeps_the_old_pack(
    tmp_path: Path,
) -> None:
    async with HostBuilder().with_config(HostConfig("demo")).build() as host:
        await host.load_pack("demo", pack(tmp_path / "good", HELLO))
        with pytest.raises(ComponentError) as info:
            await host.load_pack("demo", pack(tmp_path / "bad", CALLS_BROKEN, garbage="broken"))
        message = str(info.value)
        assert message.startswith("failed to load tenant demo: component broken of pack demo.pack")
        assert "not a valid WebAssembly component" in message
        replies = await host.handle_activity("demo", Activity.text("you"))
        assert replies[0].payload == {"text": "hello you"}


async def test_an_unused_bundled_component_is_not_compiled_at_load(tmp_path: Path) -> None:
    async with HostBuilder().with_config(HostConfig("demo")).build() as host:
        await host.load_pack("demo", pack(tmp_path, HELLO, garbage="placeholder"))
        replies = await host.handle_activity("demo", Activity.text("x"))
        assert replies[0].payload == {"text": "hello x"}


def test_used_components_finds_references_in_flows(tmp_path: Path) -> None:
    loaded = load_pack(pack(tmp_path, CALLS_BROKEN, garbage="broken"))
    assert used_components(loaded, HostConfig("demo")) == ["broken"]
    unused = load_pack(pack(tmp_path / "b", HELLO, garbage="broken"))
    assert used_components(unused, HostConfig("demo")) == []


async def test_revision_packs_are_pinned_and_unique(tmp_path: Path) -> None:
    import hashlib

    from greentic_runner.packs.build import build_pack

    archive = tmp_path / "p.gtpack"
    build_pack(pack(tmp_path / "src", HELLO), archive)
    digest = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    async with HostBuilder().with_config(HostConfig("demo")).build() as host:
        await host.load_revision("demo", "d", "b", "r", [PackRef(archive, digest)])
        replies = await host.handle_activity_for_revision("demo", "d", "b", "r", Activity.text("v"))
        assert replies[0].payload == {"text": "hello v"}
        bad = "sha256:" + "0" * 64
        with pytest.raises(VerificationError, match="does not match pinned digest"):
            await host.load_revision("demo", "d", "b", "r2", [PackRef(archive, bad)])
        with pytest.raises(VerificationError, match="unsupported digest algorithm `md5`"):
            await host.load_revision("demo", "d", "b", "r3", [PackRef(archive, "md5:abc")])
        with pytest.raises(VerificationError, match="has an invalid digest `nocolon`"):
            await host.load_revision("demo", "d", "b", "r4", [PackRef(archive, "nocolon")])
        with pytest.raises(PackError, match="contains duplicate pack_id `demo.pack`"):
            await host.load_revision(
                "demo", "d", "b", "r5", [PackRef(archive, digest), PackRef(archive, digest)]
            )
        with pytest.raises(
            PackError, match="^revision runtime for tenant demo requires at least one pack$"
        ):
            await host.load_revision("demo", "d", "b", "r6", [])


async def test_tenants_of_one_pack_share_what_a_turn_reads_but_keep_their_own_packs(
    tmp_path: Path,
) -> None:
    # Shared: the flow registry, its route answers and the resume store (they never hold
    # anything of one tenant). Own: each tenant's PackRuntime (digest pin, probe cache).
    hello = pack(tmp_path / "hello", HELLO)
    builder = HostBuilder().with_config(HostConfig("a")).with_config(HostConfig("b"))
    async with builder.build() as host:
        for tenant in ("a", "b"):
            await host.load_pack(tenant, hello)
        a, b = host.active.load_pack("a"), host.active.load_pack("b")
        assert a is not None and b is not None
        assert a.registry is b.registry and a.resume is b.resume
        assert a.main_pack is not b.main_pack
        assert a._routes is b._routes  # resolve_flow_id's remembered answers
        for tenant in ("a", "b"):
            replies = await host.handle_activity(tenant, Activity.text(tenant))
            assert replies[0].payload == {"text": f"hello {tenant}"}
        # The reloaded pack is a new parse: b moves to a new registry, a keeps its own.
        (hello / "flows" / "main.ygtc").write_text(HELLO.replace("hello", "hi"))
        await host.load_pack("b", hello)
        reloaded = host.active.load_pack("b")
        assert reloaded is not None and reloaded.registry is not a.registry
        assert (await host.handle_activity("b", Activity.text("b")))[0].payload == {"text": "hi b"}
        assert (await host.handle_activity("a", Activity.text("a")))[0].payload == {
            "text": "hello a"
        }

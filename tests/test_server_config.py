"""The server config file and the flags > env > file > defaults merge (server_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greentic_runner.errors import ConfigError
from greentic_runner.http import Limits, TenantRouting
from greentic_runner.server_config import (
    DEFAULT_STORE,
    ServeFlags,
    ServePlan,
    TenantPlan,
    load_server_config,
    parse_pack_flag,
    resolve_plan,
)

FULL = """\
host: 0.0.0.0
port: 9000
workers: 2
store: sqlite:data/runner.db
tenants:
  demo:
    pack: packs/hello
    overlays: [packs/extra.gtpack]
    bindings: bindings/demo.yaml
  acme:
    pack: /abs/acme.gtpack
routing:
  tenant_resolver: header
  default_tenant: acme
limits:
  max_body_bytes: 2048
  max_json_depth: 10
  turn_timeout_secs: 2.5
dedupe:
  max_entries: 50
  ttl_secs: 60
shutdown_timeout_secs: 5
admin:
  token_env: MY_ADMIN_TOKEN
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.yaml"
    path.write_text(text)
    return path


def test_full_file_resolves_relative_to_itself(tmp_path: Path) -> None:
    plan = resolve_plan(ServeFlags(config=write(tmp_path, FULL)), {})
    assert plan == ServePlan(
        tenants=(
            TenantPlan("acme", (Path("/abs/acme.gtpack"),)),
            TenantPlan(
                "demo",
                (tmp_path / "packs/hello", tmp_path / "packs/extra.gtpack"),
                tmp_path / "bindings/demo.yaml",
            ),
        ),
        host="0.0.0.0",
        port=9000,
        workers=2,
        store=f"sqlite:{tmp_path / 'data/runner.db'}",
        limits=Limits(2048, 10, 2.5),
        routing=TenantRouting("header", "acme"),
        admin_token_env="MY_ADMIN_TOKEN",
        dedupe_max_entries=50,
        dedupe_ttl_secs=60.0,
        shutdown_timeout_secs=5.0,
    )
    assert ServePlan.from_json(plan.to_json()) == plan


def test_flags_beat_env_beat_file(tmp_path: Path) -> None:
    env = {
        "GREENTIC_RUNNER_PORT": "7000",
        "GREENTIC_RUNNER_HOST": "10.1.1.1",
        "GREENTIC_RUNNER_MAX_BODY_BYTES": "4096",
        "TENANT_RESOLVER": "host",
    }
    flags = ServeFlags(
        config=write(tmp_path, FULL), port=7500, store="memory", packs=["demo=/other"]
    )
    plan = resolve_plan(flags, env)
    assert (plan.port, plan.host, plan.store) == (7500, "10.1.1.1", "memory")
    assert plan.limits.max_body_bytes == 4096 and plan.limits.max_json_depth == 10
    assert plan.routing == TenantRouting("host", "acme")
    demo = next(t for t in plan.tenants if t.tenant == "demo")
    assert demo.packs == (Path("/other"),)  # --pack replaced the file's packs…
    assert demo.bindings == tmp_path / "bindings/demo.yaml"  # …and kept its bindings


def test_defaults_and_pack_flags() -> None:
    plan = resolve_plan(
        ServeFlags(packs=["examples/hello", "examples/extra", "acme=/a.gtpack"]), {}
    )
    assert plan.tenants == (
        TenantPlan("acme", (Path("/a.gtpack"),)),
        TenantPlan("demo", (Path("examples/hello"), Path("examples/extra"))),
    )
    assert (plan.host, plan.port, plan.workers, plan.store) == ("127.0.0.1", 8080, 1, DEFAULT_STORE)
    assert plan.limits == Limits()


def test_store_variables_mean_from_env() -> None:
    env = {"GREENTIC_RUNNER_SESSION_BACKEND": "memory"}
    assert resolve_plan(ServeFlags(packs=["p"]), env).store is None
    assert resolve_plan(ServeFlags(packs=["p"], store="sqlite:x.db"), env).store == "sqlite:x.db"


def test_bare_pack_goes_to_default_tenant_and_bindings_attach() -> None:
    plan = resolve_plan(
        ServeFlags(packs=["p"], bindings=[Path("b.yaml")]),
        {"DEFAULT_TENANT": "acme"},
        bindings_tenant={Path("b.yaml"): "acme"},
    )
    assert plan.tenants == (TenantPlan("acme", (Path("p"),), Path("b.yaml")),)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (ServeFlags(), {}, "nothing to serve"),
        (ServeFlags(packs=["p"], port=70000), {}, "port 70000 is out of range"),
        (ServeFlags(packs=["p"], workers=0), {}, "workers must be at least 1"),
        (ServeFlags(packs=["bad tenant=p"]), {}, "expected [TENANT=]PATH"),
        (ServeFlags(packs=["p"]), {"GREENTIC_RUNNER_PORT": "http"}, "GREENTIC_RUNNER_PORT='http'"),
        (ServeFlags(packs=["p"]), {"GREENTIC_RUNNER_MAX_JSON_DEPTH": "0"}, "invalid limits"),
        (ServeFlags(packs=["p"]), {"TENANT_RESOLVER": "jwt"}, "unsupported TENANT_RESOLVER"),
    ],
    ids=["nothing", "port", "workers", "pack-flag", "env-number", "depth", "resolver"],
)
def test_invalid_settings(flags: ServeFlags, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_plan(flags, env)
    assert message in str(caught.value)


def test_bindings_without_pack_need_a_pack_index() -> None:
    flags = ServeFlags(bindings=[Path("b.yaml")])
    tenants = {Path("b.yaml"): "acme"}
    with pytest.raises(ConfigError, match="--bindings for tenant acme but no pack for it"):
        resolve_plan(flags, {}, bindings_tenant=tenants)
    plan = resolve_plan(flags, {"PACK_INDEX_URL": "index.json"}, bindings_tenant=tenants)
    assert plan.tenants == (TenantPlan("acme", (), Path("b.yaml")),)
    assert resolve_plan(ServeFlags(), {"PACK_INDEX_URL": "index.json"}).tenants == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("porty: 1\n", "unknown key `porty`"),
        ("limits:\n  max_body: 1\n", "unknown key `limits.max_body`"),
        ("port: -1\n", "`port` must be a non-negative integer"),
        ("port: true\n", "`port` must be a non-negative integer"),
        ("tenants:\n  demo: {}\n", "tenant `demo` needs a `pack`"),
        ("tenants:\n  demo:\n    pack: p\n    overlays: q\n", "overlays` must be a list"),
        ("tenants:\n  'a b':\n    pack: p\n", "tenant `a b` is not a valid id"),
        ("routing:\n  tenant_resolver: jwt\n", "tenant_resolver` must be one of"),
        ("store: 'sqlite:'\n", "sqlite: needs a path"),
        ("- a list\n", "must be a mapping"),
        ("host: [\n", "failed to parse server config"),
    ],
)
def test_file_errors_name_file_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_server_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "host: a\nport: 1\nlimits:\n  nope: 3\n")
    with pytest.raises(ConfigError, match=rf"{path}:4: unknown key `limits.nope`"):
        load_server_config(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="failed to read server config"):
        load_server_config(tmp_path / "missing.yaml")


def test_parse_pack_flag() -> None:
    assert parse_pack_flag("a/b", "demo") == ("demo", Path("a/b"))
    assert parse_pack_flag("acme=a=b", "demo") == ("acme", Path("a=b"))
    with pytest.raises(ConfigError):
        parse_pack_flag("acme=", "demo")

"""Secrets (spec §10): env and file backends, scoping, the bindings policy with the
reference messages, backend selection, and values kept out of messages and reprs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.config import HostConfig, SecretsPolicy
from greentic_runner.errors import ConfigError, SecretsError
from greentic_runner.host import HostBuilder
from greentic_runner.secrets import (
    EnvSecretsManager,
    MemorySecretsManager,
    SecretsGuard,
    SecretsManager,
    default_manager,
)
from greentic_runner.secrets_file import FileSecretsManager, parse_secrets
from greentic_runner.tenancy import TenantCtx

VALUE = "s3cr3t-value-never-shown"
ACME = TenantCtx(env="local", tenant="acme")
POLICY = SecretsPolicy(allowed=frozenset({"BOT_TOKEN", "MISSING", "BINARY"}))


def write_secrets(path: Path, doc: dict[str, Any], mode: int = 0o600) -> Path:
    if path.suffix == ".toml":
        path.write_text(_toml(doc))
    elif path.suffix in (".yaml", ".yml"):
        path.write_text(yaml.safe_dump(doc))
    else:
        path.write_text(json.dumps(doc))
    path.chmod(mode)
    return path


def _toml(doc: dict[str, Any], prefix: str = "") -> str:
    """A tiny TOML writer for string leaves and nested tables (enough for these tests)."""
    lines = [f"{key} = {json.dumps(value)}" for key, value in doc.items() if isinstance(value, str)]
    for key, value in doc.items():
        if isinstance(value, dict):
            name = f"{prefix}.{key}" if prefix else key
            lines.append(f"\n[{name}]")
            lines.append(_toml(value, name))
    return "\n".join(lines) + "\n"


@pytest.fixture(params=["env", "toml", "yaml", "json"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SecretsManager:
    """Each backend holding BOT_TOKEN for tenant acme (env: process-wide)."""
    if request.param == "env":
        monkeypatch.setenv("BOT_TOKEN", VALUE)
        monkeypatch.setenv("OTHER", VALUE)
        monkeypatch.delenv("MISSING", raising=False)
        return EnvSecretsManager()
    doc = {"tenants": {"acme": {"BOT_TOKEN": VALUE, "OTHER": VALUE}}}
    return FileSecretsManager(write_secrets(tmp_path / f"secrets.{request.param}", doc))


# -- the policy on every backend -------------------------------------------------------------


async def test_an_allowed_secret_is_returned(backend: SecretsManager) -> None:
    assert await SecretsGuard(backend, POLICY).require(ACME, "app", "BOT_TOKEN") == VALUE


async def test_a_secret_outside_the_policy_is_denied(backend: SecretsManager) -> None:
    with pytest.raises(SecretsError) as caught:
        await SecretsGuard(backend, POLICY).require(ACME, "app", "OTHER")
    assert str(caught.value) == "secret OTHER denied by policy"


async def test_allow_all_permits_any_name(backend: SecretsManager) -> None:
    guard = SecretsGuard(backend, SecretsPolicy(allow_all=True))
    assert await guard(ACME, "app", "OTHER") == VALUE


async def test_a_missing_secret_is_unavailable(backend: SecretsManager) -> None:
    with pytest.raises(SecretsError) as caught:
        await SecretsGuard(backend, POLICY).require(ACME, "app", "MISSING")
    assert str(caught.value) == (
        "secret MISSING unavailable: secret MISSING not found in environment"
    )


async def test_a_value_that_is_not_utf8_is_rejected_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The OS hands undecodable environment bytes to Python as surrogate escapes.
    monkeypatch.setenv("BINARY", "ab" + b"\xff".decode("utf-8", "surrogateescape"))
    path = tmp_path / "secrets.yaml"
    path.write_text("tenants:\n  acme:\n    BINARY: !!binary YWL/\n")  # b"ab\xff"
    path.chmod(0o600)
    for manager in (EnvSecretsManager(), FileSecretsManager(path)):
        with pytest.raises(SecretsError) as caught:
            await SecretsGuard(manager, POLICY).require(ACME, "app", "BINARY")
        assert str(caught.value) == "secret BINARY not valid UTF-8: invalid byte at position 2"


async def test_a_failing_backend_makes_the_secret_unavailable(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "secrets.json", {"BOT_TOKEN": VALUE})
    manager = FileSecretsManager(path)
    path.unlink()
    with pytest.raises(SecretsError, match=r"^secret BOT_TOKEN unavailable: secrets file .* is"):
        await SecretsGuard(manager, POLICY).require(ACME, "app", "BOT_TOKEN")


# -- scoping -------------------------------------------------------------------------------------


SCOPED = {
    "KEY": "global",
    "packs": {"weather": {"KEY": "any-tenant-weather"}},
    "tenants": {
        "acme": {
            "KEY": "acme",
            "packs": {"weather": {"KEY": "acme-weather"}},
            "teams": {
                "support": {"KEY": "acme-support", "packs": {"weather": {"KEY": "acme-sup-w"}}}
            },
        }
    },
    "envs": {"prod": {"KEY": "prod-global", "tenants": {"acme": {"KEY": "prod-acme"}}}},
}


@pytest.mark.parametrize(
    ("env", "tenant", "team", "pack", "expected"),
    [
        ("local", "acme", "support", "weather", "acme-sup-w"),
        ("local", "acme", "support", "other", "acme-support"),
        ("local", "acme", None, "weather", "acme-weather"),
        ("local", "acme", "sales", "other", "acme"),
        ("local", "globex", None, "weather", "any-tenant-weather"),
        ("local", "globex", None, "other", "global"),
        ("prod", "acme", None, "other", "prod-acme"),
        ("prod", "acme", None, "weather", "acme-weather"),
        ("prod", "globex", None, "other", "prod-global"),
    ],
    ids=[
        "team-pack",
        "team",
        "tenant-pack",
        "tenant-unknown-team",
        "pack-any-tenant",
        "global",
        "env-tenant",
        "pack-beats-env",
        "env-global",
    ],
)
@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
async def test_the_most_specific_section_wins(
    tmp_path: Path,
    suffix: str,
    env: str,
    tenant: str,
    team: str | None,
    pack: str,
    expected: str,
) -> None:
    manager = FileSecretsManager(write_secrets(tmp_path / f"s{suffix}", SCOPED))
    ctx = TenantCtx(env=env, tenant=tenant, team=team)
    assert await manager.get(ctx, pack, "KEY") == expected


async def test_the_memory_backend_scopes_the_same_way() -> None:
    manager = MemorySecretsManager({"KEY": "global"})
    manager.set("KEY", "acme", tenant="acme")
    manager.set("KEY", "acme-prod", tenant="acme", env="prod")
    assert await manager.get(ACME, "p", "KEY") == "acme"
    assert await manager.get(TenantCtx(env="prod", tenant="acme"), "p", "KEY") == "acme-prod"
    assert await manager.get(TenantCtx(env="local", tenant="other"), "p", "KEY") == "global"
    with pytest.raises(ConfigError, match="team `t` needs a tenant"):
        manager.set("KEY", "x", team="t")


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True),
        st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True), st.text()),
        max_size=4,
    )
)
def test_any_tenant_sections_round_trip_through_json(
    tenants: dict[str, dict[str, str]],
) -> None:
    store = parse_secrets(orjson.dumps({"tenants": tenants}), Path("s.json"))
    for tenant, secrets in tenants.items():
        for key, value in secrets.items():
            assert store.lookup(TenantCtx(env="local", tenant=tenant), "p", key) == value


# -- the file backend ------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o606], ids=["world", "group", "others-rw"])
def test_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_secrets(tmp_path / "secrets.toml", {"BOT_TOKEN": VALUE}, mode=mode)
    with pytest.raises(SecretsError) as caught:
        FileSecretsManager(path)
    assert str(caught.value) == (
        f"secrets file {path} is accessible by group or others (mode {mode:04o}); "
        f"restrict it with `chmod 600 {path}`"
    )


async def test_the_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "secrets.json", {"BOT_TOKEN": "first"})
    manager = FileSecretsManager(path)
    assert await manager.get(ACME, "app", "BOT_TOKEN") == "first"
    write_secrets(path, {"BOT_TOKEN": "second-and-longer"})
    assert await manager.get(ACME, "app", "BOT_TOKEN") == "second-and-longer"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "s.json",
            '{"tenants": {"acme": {"BOT_TOKEN": 12345}}}',
            "value of `tenants.acme.BOT_TOKEN` must be a string",
        ),
        (
            "s.json",
            '{"tenants": {"acme": {"NESTED": {"A": "b"}}}}',
            "`tenants.acme.NESTED` is a table, but only `packs`, `teams` may hold tables here",
        ),
        ("s.json", '{"tenants": ["acme"]}', "`tenants` must be a table of sections"),
        ("s.json", '["x"]', "the document must be a table/mapping"),
        ("s.toml", 'KEY = "unterminated', "is not valid TOML"),
        ("s.yaml", "KEY: [unclosed", "is not valid YAML"),
        ("s.ini", "KEY=value", "unsupported format `.ini`"),
    ],
    ids=["number", "stray-table", "tenants-list", "not-a-table", "toml", "yaml", "suffix"],
)
def test_a_malformed_file_names_file_and_key_but_no_value(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(SecretsError) as caught:
        FileSecretsManager(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
    assert "12345" not in str(caught.value) and "unterminated" not in str(caught.value)


def test_reprs_never_show_values(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "secrets.toml", {"tenants": {"acme": {"K": VALUE}}})
    for manager in (FileSecretsManager(path), MemorySecretsManager({"K": VALUE})):
        assert VALUE not in repr(manager)
        assert "1 secrets" in repr(manager)


# -- backend selection ---------------------------------------------------------------------


def test_the_env_backend_is_the_default() -> None:
    assert isinstance(default_manager({}), EnvSecretsManager)
    assert isinstance(default_manager({"SECRETS_BACKEND": " "}), EnvSecretsManager)
    assert isinstance(default_manager({"SECRETS_BACKEND": "ENV"}), EnvSecretsManager)


def test_the_file_backend_reads_its_path(tmp_path: Path) -> None:
    path = write_secrets(tmp_path / "s.toml", {"K": "v"})
    manager = default_manager({"SECRETS_BACKEND": "file", "GREENTIC_SECRETS_FILE": str(path)})
    assert isinstance(manager, FileSecretsManager) and manager.path == path


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        (
            {"SECRETS_BACKEND": "vault"},
            "unknown secrets backend 'vault' (expected 'env' or 'file')",
        ),
        (
            {"SECRETS_BACKEND": "file"},
            "SECRETS_BACKEND=file needs GREENTIC_SECRETS_FILE (a TOML, YAML or JSON secrets file)",
        ),
    ],
    ids=["unknown", "file-without-path"],
)
def test_a_bad_backend_fails_initialisation(environ: dict[str, str], reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        default_manager(environ)
    assert str(caught.value) == f"failed to initialise default secrets backend: {reason}"


def test_the_host_builder_uses_secrets_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_secrets(tmp_path / "s.toml", {"K": "v"})
    monkeypatch.setenv("SECRETS_BACKEND", "file")
    monkeypatch.setenv("GREENTIC_SECRETS_FILE", str(path))
    host = HostBuilder().with_config(HostConfig(tenant="demo")).build()
    assert isinstance(host.secrets, FileSecretsManager)

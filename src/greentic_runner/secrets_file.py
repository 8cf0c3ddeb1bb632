"""The ``file`` secrets backend: a local development store in TOML, YAML or JSON.

The format is chosen by the file's suffix (``.toml``; ``.yaml``/``.yml``; ``.json``). A
document is a tree of sections; string values are secrets, and four reserved names hold
sub-sections::

    SHARED_KEY = "…"                         # every tenant
    [packs.weather]      WEATHER_KEY = "…"   # any tenant, pack `weather`
    [tenants.acme]       BOT_TOKEN = "…"     # tenant `acme`
    [tenants.acme.packs.weather]             # tenant + pack
    [tenants.acme.teams.support]             # tenant + team (teams may hold `packs` too)
    [envs.prod.tenants.acme]                 # any of the above, only for GREENTIC_ENV=prod

The file must not be readable or writable by group or others (``chmod 600``). It is re-read
when its modification time or size changes. Error messages name the file and the key path,
never a value.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import SecretsError
from .secrets import MemorySecretsManager
from .tenancy import TenantCtx

_ROOT_SECTIONS = frozenset({"envs", "tenants", "packs"})
_ENV_SECTIONS = frozenset({"tenants", "packs"})
_TENANT_SECTIONS = frozenset({"teams", "packs"})
_TEAM_SECTIONS = frozenset({"packs"})


class FileSecretsManager:
    """Secrets from one local file; loads (and checks permissions) at construction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._secrets = MemorySecretsManager()
        self._reload_sync()

    async def get(self, ctx: TenantCtx, pack_id: str, key: str) -> str | None:
        if self._changed():
            await asyncio.to_thread(self._reload_sync)
        return self._secrets.lookup(ctx, pack_id, key)

    def _changed(self) -> bool:
        try:
            info = self.path.stat()
        except OSError as exc:
            raise SecretsError(
                f"secrets file {self.path} is unreadable: {exc.strerror or exc}"
            ) from exc
        return (info.st_mtime_ns, info.st_size) != self._stamp

    def _reload_sync(self) -> None:
        try:
            info = self.path.stat()
            check_permissions(self.path, info.st_mode)
            raw = self.path.read_bytes()
        except OSError as exc:
            raise SecretsError(
                f"secrets file {self.path} is unreadable: {exc.strerror or exc}"
            ) from exc
        self._secrets = parse_secrets(raw, self.path)
        self._stamp = (info.st_mtime_ns, info.st_size)

    def __repr__(self) -> str:
        return f"FileSecretsManager({str(self.path)!r}, {len(self._secrets)} secrets)"


def check_permissions(path: Path, mode: int) -> None:
    """Refuse a file that group or others may read or write (POSIX only)."""
    if os.name != "posix":
        return
    loose = stat.S_IMODE(mode) & 0o077
    if loose:
        raise SecretsError(
            f"secrets file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); restrict it with `chmod 600 {path}`"
        )


def parse_secrets(raw: bytes, path: Path) -> MemorySecretsManager:
    """Decode and validate a secrets document; SecretsError names the file and key path."""
    document = _decode(raw, path)
    if not isinstance(document, Mapping):
        raise SecretsError(f"secrets file {path}: the document must be a table/mapping")
    store = MemorySecretsManager()
    _Loader(path, store).root(document)
    return store


def _decode(raw: bytes, path: Path) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(raw.decode("utf-8"))
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(raw)
        if suffix == ".json":
            return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise SecretsError(f"secrets file {path} is not valid UTF-8 (byte {exc.start})") from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as exc:
        # Parser messages quote positions, not content, for these three libraries' errors;
        # still, keep only the first line so no value fragment can ride along.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, yaml.YAMLError):
            reason = _yaml_position(exc)
        raise SecretsError(
            f"secrets file {path} is not valid {suffix[1:].upper()}: {reason}"
        ) from None
    raise SecretsError(
        f"secrets file {path}: unsupported format `{suffix}` (expected .toml, .yaml, .yml or .json)"
    )


def _yaml_position(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


class _Loader:
    """Walks the section tree into a MemorySecretsManager."""

    def __init__(self, path: Path, store: MemorySecretsManager) -> None:
        self.path = path
        self.store = store

    def root(self, doc: Mapping[str, Any]) -> None:
        self._section(doc, "", _ROOT_SECTIONS, {})
        for env, body in self._tables(doc.get("envs"), "envs"):
            self._section(body, f"envs.{env}", _ENV_SECTIONS, {"env": env})
            self._scoped(body, f"envs.{env}", {"env": env})
        self._scoped(doc, "", {})

    def _scoped(self, doc: Mapping[str, Any], where: str, scope: dict[str, str]) -> None:
        for pack, body in self._tables(doc.get("packs"), _join(where, "packs")):
            self._section(body, _join(where, f"packs.{pack}"), frozenset(), {**scope, "pack": pack})
        for tenant, body in self._tables(doc.get("tenants"), _join(where, "tenants")):
            here = _join(where, f"tenants.{tenant}")
            tenant_scope = {**scope, "tenant": tenant}
            self._section(body, here, _TENANT_SECTIONS, tenant_scope)
            self._packs(body, here, tenant_scope)
            for team, team_body in self._tables(body.get("teams"), f"{here}.teams"):
                team_where = f"{here}.teams.{team}"
                team_scope = {**tenant_scope, "team": team}
                self._section(team_body, team_where, _TEAM_SECTIONS, team_scope)
                self._packs(team_body, team_where, team_scope)

    def _packs(self, doc: Mapping[str, Any], where: str, scope: dict[str, str]) -> None:
        for pack, body in self._tables(doc.get("packs"), f"{where}.packs"):
            self._section(body, f"{where}.packs.{pack}", frozenset(), {**scope, "pack": pack})

    def _tables(self, value: Any, where: str) -> list[tuple[str, Mapping[str, Any]]]:
        if value is None:
            return []
        if not isinstance(value, Mapping):
            raise SecretsError(f"secrets file {self.path}: `{where}` must be a table of sections")
        out = []
        for name, body in value.items():
            if not isinstance(body, Mapping):
                raise SecretsError(f"secrets file {self.path}: `{where}.{name}` must be a table")
            out.append((str(name), body))
        return out

    def _section(
        self, doc: Mapping[str, Any], where: str, reserved: frozenset[str], scope: dict[str, str]
    ) -> None:
        for key, value in doc.items():
            name = str(key)
            if name in reserved:
                continue
            dotted = _join(where, name)
            if isinstance(value, bytes):
                # YAML !!binary: keep undecodable bytes as surrogate escapes, so the policy
                # layer reports "not valid UTF-8" for this secret only, when it is read.
                value = value.decode("utf-8", "surrogateescape")
            if isinstance(value, Mapping):
                raise SecretsError(
                    f"secrets file {self.path}: `{dotted}` is a table, but only "
                    f"{_allowed(reserved)} may hold tables here"
                )
            if not isinstance(value, str):
                raise SecretsError(
                    f"secrets file {self.path}: value of `{dotted}` must be a string"
                )
            self.store.set(name, value, **scope)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _allowed(reserved: frozenset[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(reserved)) if reserved else "no section"

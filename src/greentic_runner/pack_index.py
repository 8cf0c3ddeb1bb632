"""The tenant pack index: which archives each tenant runs, fetched, verified and cached
(spec §2.3, old watcher).

``PACK_INDEX_URL`` (a path, ``file://`` or ``https://`` URL) names a JSON document::

    {"tenants": {"acme": {
        "main_pack": {"reference": {"name": "…", "version": "…"},
                      "locator": "./packs/demo.gtpack", "digest": "sha256:…",
                      "signature": "<base64 Ed25519 over the digest string>"},
        "overlays": [ …same shape… ]}}}

The reference's sample omits the ``tenants`` wrapper and puts ``name``/``version`` beside
``locator``; both shapes are accepted. ``locator`` is a path (relative to the index), a
``file://`` URL or an ``https://`` URL (relative locators of an https index resolve against
it); ``path``, when given, is a local file used instead. An https entry needs a digest.

Every pack is copied or downloaded to ``PACK_CACHE_DIR/sha256/<hex>.gtpack`` (content
addressed) and verified there (digest, and signature when ``PACK_PUBLIC_KEY`` is set) before
a runtime may use it. :class:`IndexPackSource` is a pack source for reloads;
:class:`PackIndexWatcher` (``pack_watcher.py``) polls it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import orjson

from .errors import ConfigError, PackError, RunnerError, VerificationError, with_context
from .packs.verify import VerifyPolicy, sha256_file, verify_index_entry
from .runtime_loader import PackRef

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(".packs")
_DIGEST = re.compile(r"^sha256:[0-9a-fA-F]{64}$")
MAX_DOWNLOAD_BYTES = 1 << 30


# -- the index document ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One pack of a tenant: where it is and what it must hash to."""

    name: str
    version: str | None = None
    locator: str | None = None
    path: str | None = None
    digest: str | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class TenantPacks:
    tenant: str
    main_pack: IndexEntry
    overlays: tuple[IndexEntry, ...] = ()

    @property
    def entries(self) -> tuple[IndexEntry, ...]:
        return (self.main_pack, *self.overlays)


def parse_index(raw: bytes | Mapping[str, Any], origin: str) -> dict[str, TenantPacks]:
    """Parse an index document; ConfigError names ``origin`` and the offending tenant/field."""
    if isinstance(raw, bytes | bytearray):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"pack index {origin} is not valid JSON: {exc}") from exc
    else:
        doc = raw
    if not isinstance(doc, Mapping):
        raise ConfigError(f"pack index {origin} must be a JSON object")
    tenants = doc.get("tenants", doc)
    if not isinstance(tenants, Mapping):
        raise ConfigError(f"pack index {origin}: `tenants` must be an object")
    return {str(tenant): _tenant(str(tenant), body, origin) for tenant, body in tenants.items()}


def _tenant(tenant: str, body: Any, origin: str) -> TenantPacks:
    where = f"pack index {origin}, tenant {tenant}"
    if not isinstance(body, Mapping) or "main_pack" not in body:
        raise ConfigError(f"{where}: expected an object with `main_pack`")
    overlays = body.get("overlays")
    overlays = [] if overlays is None else overlays
    if not isinstance(overlays, list):
        raise ConfigError(f"{where}: `overlays` must be a list")
    return TenantPacks(
        tenant,
        _entry(body["main_pack"], f"{where}, main_pack"),
        tuple(_entry(item, f"{where}, overlay {i}") for i, item in enumerate(overlays)),
    )


def _entry(body: Any, where: str) -> IndexEntry:
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where}: expected an object")
    reference = body.get("reference", body)
    if not isinstance(reference, Mapping) or not isinstance(reference.get("name"), str):
        raise ConfigError(f"{where}: missing `reference.name`")
    fields = {}
    for key in ("locator", "path", "digest", "signature"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: `{key}` must be a string")
        fields[key] = value or None
    version = reference.get("version")
    entry = IndexEntry(
        name=reference["name"], version=str(version) if version is not None else None, **fields
    )
    if entry.locator is None and entry.path is None:
        raise ConfigError(f"{where}: pack {entry.name} needs a `locator` or a `path`")
    if entry.digest is not None and not _DIGEST.match(entry.digest):
        raise ConfigError(
            f"{where}: pack {entry.name} has digest `{entry.digest}`; expected sha256:<64 hex>"
        )
    return entry


# -- fetching ----------------------------------------------------------------------------------


class Fetcher(Protocol):
    """Downloads ``url`` into the file ``dest``; raises PackError when it cannot."""

    async def fetch(self, url: str, dest: Path) -> None: ...


class UrlFetcher:
    """HTTPS downloads with the standard library, streamed to disk in a worker thread."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.max_bytes = max_bytes

    async def fetch(self, url: str, dest: Path) -> None:
        await asyncio.to_thread(self._download, url, dest)

    def _download(self, url: str, dest: Path) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "greentic-runner"})
        try:
            with (
                urllib.request.urlopen(
                    request, timeout=self.timeout, context=self.ssl_context
                ) as response,
                dest.open("wb") as out,
            ):
                written = 0
                while chunk := response.read(1 << 20):
                    written += len(chunk)
                    if written > self.max_bytes:
                        raise PackError(
                            f"failed to fetch {display_url(url)}: larger than "
                            f"{self.max_bytes} bytes"
                        )
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the open response
            raise PackError(f"failed to fetch {display_url(url)}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise PackError(f"failed to fetch {display_url(url)}: {reason}") from exc


def display_url(url: str) -> str:
    """``url`` without user info or query, which may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# -- the source --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Location:
    url: str | None = None  # https
    path: Path | None = None  # local


def locate(raw: str, base: str) -> _Location:
    """Resolve a locator against the index's own location (a directory path or a URL)."""
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return _Location(url=raw)
    if scheme == "file":
        return _Location(path=Path(url2pathname(parts.path)))
    if scheme and len(scheme) > 1:
        raise PackError(
            f"unsupported pack locator scheme `{scheme}` in {display_url(raw)}; "
            "supported: paths, file://, https://"
        )
    if base.lower().startswith("https://"):
        return _Location(url=urljoin(base, raw))
    path = Path(raw).expanduser()
    return _Location(path=path if path.is_absolute() else Path(base) / path)


class IndexPackSource:
    """A pack source over ``PACK_INDEX_URL``: ``resolve()`` maps tenant → [main, *overlays]
    as verified, cached :class:`PackRef`\\ s. Errors name the tenant and the pack."""

    def __init__(
        self,
        index_url: str,
        *,
        cache_dir: Path = DEFAULT_CACHE_DIR,
        fetcher: Fetcher | None = None,
        policy: VerifyPolicy | None = None,
    ) -> None:
        self.index_url = index_url
        self.cache_dir = Path(cache_dir)
        self.fetcher: Fetcher = fetcher or UrlFetcher()
        self.policy = policy if policy is not None else VerifyPolicy.resolve()

    async def resolve(self) -> dict[str, list[PackRef]]:
        raw, base = await self._read_index()
        tenants = parse_index(raw, display_url(self.index_url))
        resolved: dict[str, list[PackRef]] = {}
        for tenant, packs in tenants.items():
            refs = []
            for entry in packs.entries:
                try:
                    refs.append(await self.materialise(entry, base))
                except RunnerError as exc:
                    raise with_context(f"pack {entry.name} for tenant {tenant}", exc) from exc
            resolved[tenant] = refs
        return resolved

    async def _read_index(self) -> tuple[bytes, str]:
        where = locate(self.index_url, str(Path.cwd()))
        if where.url is not None:
            tmp = self._tmp_path()
            try:
                await self.fetcher.fetch(where.url, tmp)
                return await asyncio.to_thread(tmp.read_bytes), where.url
            finally:
                tmp.unlink(missing_ok=True)
        assert where.path is not None
        try:
            return await asyncio.to_thread(where.path.read_bytes), str(where.path.parent)
        except OSError as exc:
            raise PackError(
                f"pack index {where.path} is unreadable: {exc.strerror or exc}"
            ) from exc

    async def materialise(self, entry: IndexEntry, base: str) -> PackRef:
        """Bring ``entry`` into the cache and verify it there; returns the cached ref."""
        where = locate(entry.path or entry.locator or "", base)
        if where.url is not None and entry.digest is None:
            raise VerificationError(
                f"https locator {display_url(where.url)} requires a sha256 digest"
            )
        if entry.digest is not None:
            cached = self._cached(entry.digest)
            if cached.is_file():
                try:
                    return await self._verified(entry, cached)
                except VerificationError:
                    if await asyncio.to_thread(sha256_file, cached) == entry.digest.lower():
                        raise  # the file is right: the signature is what failed
                    log.warning("dropping corrupt cache file %s", cached)
                    cached.unlink(missing_ok=True)
        tmp = self._tmp_path()
        try:
            if where.url is not None:
                await self.fetcher.fetch(where.url, tmp)
            else:
                assert where.path is not None
                await asyncio.to_thread(_copy, where.path, tmp)
            ref = await self._verified(entry, tmp)
            final = self._cached(ref.digest or "")
            await asyncio.to_thread(os.replace, tmp, final)
            return PackRef(final, ref.digest)
        finally:
            tmp.unlink(missing_ok=True)

    async def _verified(self, entry: IndexEntry, path: Path) -> PackRef:
        digest = await asyncio.to_thread(
            verify_index_entry, entry.name, path, entry.digest, entry.signature, self.policy
        )
        return PackRef(path, digest)

    def _cached(self, digest: str) -> Path:
        folder = self.cache_dir / "sha256"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{digest.partition(':')[2].lower()}.gtpack"

    def _tmp_path(self) -> Path:
        folder = self.cache_dir / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{uuid.uuid4().hex}.part"


def _copy(source: Path, dest: Path) -> None:
    if source.is_dir():
        raise PackError(f"pack locator {source} is a directory; index entries are .gtpack files")
    try:
        shutil.copyfile(source, dest)
    except OSError as exc:
        raise PackError(f"pack locator {source} is unreachable: {exc.strerror or exc}") from exc


# -- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """The reference's watcher variables, validated."""

    index_url: str
    cache_dir: Path = DEFAULT_CACHE_DIR
    refresh_interval: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IndexSettings | None:
        """None when ``PACK_INDEX_URL`` is unset. Reads ``PACK_CACHE_DIR`` (``.packs``),
        ``PACK_REFRESH_INTERVAL`` (``30s``; plain seconds or ``ms``/``s``/``m``/``h``) and
        ``PACK_SOURCE`` (only ``fs``, the reference default, is supported)."""
        env = os.environ if environ is None else environ
        url = (env.get("PACK_INDEX_URL") or "").strip()
        if not url:
            return None
        source = (env.get("PACK_SOURCE") or "fs").strip().lower()
        if source != "fs":
            raise ConfigError(f"unsupported PACK_SOURCE '{source}' (only 'fs')")
        cache = (env.get("PACK_CACHE_DIR") or "").strip() or str(DEFAULT_CACHE_DIR)
        interval = parse_interval((env.get("PACK_REFRESH_INTERVAL") or "").strip() or "30s")
        return cls(url, Path(cache), interval)


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}


def parse_interval(text: str) -> float:
    """``30``, ``30s``, ``500ms``, ``5m``, ``1h`` → seconds (> 0); ConfigError otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?", text.strip().lower())
    seconds = float(match[1]) * _UNITS[match[2] or ""] if match else 0.0
    if seconds <= 0:
        raise ConfigError(f"invalid PACK_REFRESH_INTERVAL '{text}' (e.g. 30s, 5m, 500ms)")
    return seconds

"""The pack index (spec §2.3): the document format, locators (paths, file://, https:// on a
loopback TLS server), the content-addressed cache, verification, and the watcher settings."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import shutil
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.errors import ConfigError, PackError, VerificationError
from greentic_runner.pack_index import (
    IndexEntry,
    IndexPackSource,
    IndexSettings,
    display_url,
    parse_index,
    parse_interval,
)
from greentic_runner.packs.keys import generate_key
from greentic_runner.packs.verify import VerifyPolicy

UPSTREAM = Path(__file__).parent / "fixtures" / "upstream" / "greentic-runner" / "examples"
SAMPLE = UPSTREAM / "index.json"
DEMO = UPSTREAM / "packs" / "demo.gtpack"
DEMO_DIGEST = "sha256:c6ba298a9a4154f8fff7486b6594b4235a771b525824bfe48e691ed16ff8ab37"
DEV = VerifyPolicy()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_index(path: Path, tenants: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"tenants": tenants}))
    return path


def entry(locator: str, digest: str | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"reference": {"name": "demo", "version": "0.1.0"}, "locator": locator}
    if digest is not None:
        doc["digest"] = digest
    return {**doc, **extra}


def source(index: Path | str, tmp_path: Path, **kwargs: Any) -> IndexPackSource:
    return IndexPackSource(str(index), cache_dir=tmp_path / "cache", policy=DEV, **kwargs)


def cache_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "cache"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- the document ---------------------------------------------------------------------------


def test_the_upstream_sample_parses() -> None:
    tenants = parse_index(SAMPLE.read_bytes(), "index.json")
    acme = tenants["acme"]
    assert acme.main_pack == IndexEntry(
        name="ai.greentic.runner.example",
        version="0.1.0",
        locator="./packs/demo.gtpack",
        digest=DEMO_DIGEST,
    )
    assert acme.overlays == ()


def test_the_documented_shape_with_reference_and_overlays_parses() -> None:
    doc = {
        "tenants": {
            "acme": {
                "main_pack": entry("a.gtpack", DEMO_DIGEST, signature="c2ln"),
                "overlays": [entry("b.gtpack"), {"reference": {"name": "o2"}, "path": "/p/o2"}],
            }
        }
    }
    acme = parse_index(json.dumps(doc).encode(), "i")["acme"]
    assert acme.main_pack.signature == "c2ln" and acme.main_pack.version == "0.1.0"
    assert [e.locator for e in acme.entries] == ["a.gtpack", "b.gtpack", None]
    assert acme.overlays[1] == IndexEntry(name="o2", path="/p/o2")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"{not json", "pack index i is not valid JSON"),
        (b"[]", "pack index i must be a JSON object"),
        (b'{"tenants": []}', "pack index i: `tenants` must be an object"),
        (b'{"acme": {}}', "pack index i, tenant acme: expected an object with `main_pack`"),
        (
            b'{"acme": {"main_pack": {"locator": "x"}}}',
            "pack index i, tenant acme, main_pack: missing `reference.name`",
        ),
        (
            b'{"acme": {"main_pack": {"name": "p"}}}',
            "pack index i, tenant acme, main_pack: pack p needs a `locator` or a `path`",
        ),
        (
            b'{"acme": {"main_pack": {"name": "p", "locator": "x", "digest": "md5:00"}}}',
            "pack index i, tenant acme, main_pack: pack p has digest `md5:00`; "
            "expected sha256:<64 hex>",
        ),
        (
            b'{"acme": {"main_pack": {"name": "p", "locator": 3}}}',
            "pack index i, tenant acme, main_pack: `locator` must be a string",
        ),
        (
            b'{"acme": {"main_pack": {"name": "p", "locator": "x"}, "overlays": {}}}',
            "pack index i, tenant acme: `overlays` must be a list",
        ),
        (
            b'{"acme": {"main_pack": {"name": "p", "locator": "x"}, "overlays": [7]}}',
            "pack index i, tenant acme, overlay 0: expected an object",
        ),
    ],
    ids=[
        "json",
        "array",
        "tenants",
        "no-main",
        "no-name",
        "no-locator",
        "digest",
        "type",
        "overlays",
        "overlay-item",
    ],
)
def test_a_malformed_index_names_tenant_and_field(doc: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_index(doc, "i")
    assert str(caught.value).startswith(message)


names = st.from_regex(r"[a-z][a-z0-9.-]{0,10}", fullmatch=True)
digests = st.binary(min_size=1, max_size=8).map(digest_of)
entries = st.builds(
    IndexEntry,
    name=names,
    version=st.none() | st.just("1.2.3"),
    locator=names.map(lambda n: f"./{n}.gtpack"),
    digest=st.none() | digests,
    signature=st.none() | st.just("c2ln"),
)


@given(st.dictionaries(names, st.lists(entries, min_size=1, max_size=3), max_size=3))
def test_any_index_round_trips(tenants: dict[str, list[IndexEntry]]) -> None:
    def dump(e: IndexEntry) -> dict[str, Any]:
        doc = {"reference": {"name": e.name, "version": e.version}, "locator": e.locator}
        return doc | {k: v for k, v in (("digest", e.digest), ("signature", e.signature)) if v}

    doc = {
        t: {"main_pack": dump(es[0]), "overlays": [dump(e) for e in es[1:]]}
        for t, es in tenants.items()
    }
    parsed = parse_index(json.dumps({"tenants": doc}).encode(), "i")
    assert {t: list(p.entries) for t, p in parsed.items()} == tenants


# -- local locators and the cache ---------------------------------------------------------------


async def test_the_sample_resolves_into_the_content_addressed_cache(tmp_path: Path) -> None:
    resolved = await source(SAMPLE, tmp_path).resolve()
    [ref] = resolved["acme"]
    assert ref.digest == DEMO_DIGEST
    assert ref.path == tmp_path / "cache" / "sha256" / f"{DEMO_DIGEST[7:]}.gtpack"
    assert ref.path.read_bytes() == DEMO.read_bytes()
    again = await source(SAMPLE, tmp_path).resolve()
    assert again == resolved
    assert cache_files(tmp_path) == [f"sha256/{DEMO_DIGEST[7:]}.gtpack"]


async def test_file_urls_paths_and_undigested_local_packs_resolve(tmp_path: Path) -> None:
    shutil.copy(DEMO, tmp_path / "main.gtpack")
    index = write_index(
        tmp_path / "index.json",
        {
            "acme": {
                "main_pack": entry((tmp_path / "main.gtpack").as_uri(), DEMO_DIGEST),
                "overlays": [{"reference": {"name": "o"}, "locator": "x", "path": "main.gtpack"}],
            }
        },
    )
    refs = (await source(index, tmp_path).resolve())["acme"]
    assert [r.digest for r in refs] == [DEMO_DIGEST, DEMO_DIGEST]


async def test_a_corrupt_cache_file_is_replaced(tmp_path: Path) -> None:
    [ref] = (await source(SAMPLE, tmp_path).resolve())["acme"]
    ref.path.write_bytes(b"bit rot")
    [again] = (await source(SAMPLE, tmp_path).resolve())["acme"]
    assert again.path.read_bytes() == DEMO.read_bytes()


async def test_a_digest_mismatch_is_a_clear_error_and_caches_nothing(tmp_path: Path) -> None:
    wrong = digest_of(b"another pack")
    shutil.copy(DEMO, tmp_path / "demo.gtpack")
    index = write_index(tmp_path / "i.json", {"acme": {"main_pack": entry("demo.gtpack", wrong)}})
    with pytest.raises(VerificationError) as caught:
        await source(index, tmp_path).resolve()
    assert str(caught.value) == (
        f"pack demo for tenant acme: digest mismatch for demo: expected {wrong}, "
        f"found {DEMO_DIGEST}"
    )
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize(
    ("locator", "error", "message"),
    [
        ("missing.gtpack", PackError, "is unreachable: No such file or directory"),
        (".", PackError, "is a directory; index entries are .gtpack files"),
        ("s3://bucket/demo.gtpack", PackError, "unsupported pack locator scheme `s3`"),
        (
            "https://example.invalid/demo.gtpack",
            VerificationError,
            "https locator https://example.invalid/demo.gtpack requires a sha256 digest",
        ),
    ],
    ids=["missing", "directory", "scheme", "https-without-digest"],
)
async def test_unusable_locators_are_clear_errors(
    tmp_path: Path, locator: str, error: type[Exception], message: str
) -> None:
    index = write_index(tmp_path / "i.json", {"acme": {"main_pack": entry(locator)}})
    with pytest.raises(error) as caught:
        await source(index, tmp_path).resolve()
    assert str(caught.value).startswith("pack demo for tenant acme: ")
    assert message in str(caught.value)


async def test_an_unreadable_index_is_a_pack_error(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"pack index .*nowhere.json is unreadable"):
        await source(tmp_path / "nowhere.json", tmp_path).resolve()


# -- signatures ---------------------------------------------------------------------------------


def signed_index(tmp_path: Path, signature: str | None) -> Path:
    shutil.copy(DEMO, tmp_path / "demo.gtpack")
    extra = {} if signature is None else {"signature": signature}
    main = entry("demo.gtpack", DEMO_DIGEST, **extra)
    return write_index(tmp_path / "i.json", {"acme": {"main_pack": main}})


async def test_a_signature_by_the_pinned_key_verifies(tmp_path: Path) -> None:
    key = generate_key()
    signature = base64.b64encode(key.sign(DEMO_DIGEST.encode())).decode()
    index = signed_index(tmp_path, signature)
    policy = VerifyPolicy(public_key=key.public_key())
    pack_source = IndexPackSource(str(index), cache_dir=tmp_path / "cache", policy=policy)
    [ref] = (await pack_source.resolve())["acme"]
    assert ref.digest == DEMO_DIGEST


@pytest.mark.parametrize(
    ("signed_by_other_key", "message"),
    [
        (True, "pack signature verification failed"),
        (False, "signature missing for pack demo but PACK_PUBLIC_KEY is configured"),
    ],
    ids=["wrong-key", "missing"],
)
async def test_a_bad_or_missing_signature_fails(
    tmp_path: Path, signed_by_other_key: bool, message: str
) -> None:
    other = base64.b64encode(generate_key().sign(DEMO_DIGEST.encode())).decode()
    index = signed_index(tmp_path, other if signed_by_other_key else None)
    policy = VerifyPolicy(public_key=generate_key().public_key())
    pack_source = IndexPackSource(str(index), cache_dir=tmp_path / "cache", policy=policy)
    with pytest.raises(VerificationError) as caught:
        await pack_source.resolve()
    assert str(caught.value) == f"pack demo for tenant acme: {message}"
    assert cache_files(tmp_path) == []


async def test_a_cached_pack_is_still_checked_against_the_signature(tmp_path: Path) -> None:
    index = signed_index(tmp_path, None)
    await source(index, tmp_path).resolve()  # cached under the dev policy
    policy = VerifyPolicy(public_key=generate_key().public_key())
    pinned = IndexPackSource(str(index), cache_dir=tmp_path / "cache", policy=policy)
    with pytest.raises(VerificationError, match="signature missing for pack demo"):
        await pinned.resolve()


# -- https on a loopback TLS server --------------------------------------------------------------


@dataclass
class Loopback:
    base: str
    files: dict[str, bytes]
    client_context: ssl.SSLContext
    requests: list[str]


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loopback]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate the client trusts."""
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    files: dict[str, bytes] = {}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(cert))
    yield Loopback(f"https://127.0.0.1:{server.server_port}", files, client, requests)
    server.shutdown()
    server.server_close()
    thread.join()


def https_source(url: str, tmp_path: Path, loopback: Loopback) -> IndexPackSource:
    from greentic_runner.pack_index import UrlFetcher

    fetcher = UrlFetcher(ssl_context=loopback.client_context, timeout=5)
    return IndexPackSource(url, cache_dir=tmp_path / "cache", policy=DEV, fetcher=fetcher)


async def test_an_https_index_and_pack_are_downloaded_verified_and_cached(
    tmp_path: Path, loopback: Loopback
) -> None:
    loopback.files["/v1/index.json"] = json.dumps(
        {"acme": {"main_pack": entry("packs/demo.gtpack", DEMO_DIGEST)}}
    ).encode()
    loopback.files["/v1/packs/demo.gtpack"] = DEMO.read_bytes()
    pack_source = https_source(f"{loopback.base}/v1/index.json", tmp_path, loopback)
    [ref] = (await pack_source.resolve())["acme"]
    assert ref.path.read_bytes() == DEMO.read_bytes() and ref.digest == DEMO_DIGEST
    before = list(loopback.requests)
    await pack_source.resolve()
    # The second poll fetches the index again but takes the pack from the cache.
    assert loopback.requests[len(before) :] == ["/v1/index.json"]
    assert cache_files(tmp_path) == [f"sha256/{DEMO_DIGEST[7:]}.gtpack"]


async def test_an_https_download_with_the_wrong_digest_is_rejected(
    tmp_path: Path, loopback: Loopback
) -> None:
    loopback.files["/bad/index.json"] = json.dumps(
        {"acme": {"main_pack": entry("demo.gtpack", DEMO_DIGEST)}}
    ).encode()
    loopback.files["/bad/demo.gtpack"] = b"tampered"
    with pytest.raises(VerificationError, match="digest mismatch for demo"):
        await https_source(f"{loopback.base}/bad/index.json", tmp_path, loopback).resolve()
    assert cache_files(tmp_path) == []


async def test_an_unreachable_https_locator_is_a_clear_error(
    tmp_path: Path, loopback: Loopback
) -> None:
    loopback.files["/gone/index.json"] = json.dumps(
        {"acme": {"main_pack": entry("demo.gtpack", DEMO_DIGEST)}}
    ).encode()
    with pytest.raises(PackError) as caught:
        await https_source(f"{loopback.base}/gone/index.json", tmp_path, loopback).resolve()
    assert str(caught.value) == (
        f"pack demo for tenant acme: failed to fetch {loopback.base}/gone/demo.gtpack: HTTP 404"
    )


async def test_a_refused_connection_is_a_clear_error(tmp_path: Path, loopback: Loopback) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"https://127.0.0.1:{port}/index.json"
    with pytest.raises(PackError, match=rf"^failed to fetch {url}: .*refused"):
        await https_source(url, tmp_path, loopback).resolve()


def test_urls_in_messages_drop_credentials() -> None:
    url = "https://user:pw@packs.example.com:8443/a/b.gtpack?token=s3cr3t#frag"
    assert display_url(url) == "https://packs.example.com:8443/a/b.gtpack"


# -- settings --------------------------------------------------------------------------------------


def test_settings_default_like_the_reference() -> None:
    assert IndexSettings.from_env({}) is None
    settings = IndexSettings.from_env({"PACK_INDEX_URL": "/etc/greentic/index.json"})
    assert settings == IndexSettings("/etc/greentic/index.json", Path(".packs"), 30.0)


def test_settings_read_every_variable() -> None:
    environ = {
        "PACK_INDEX_URL": "https://packs/index.json",
        "PACK_CACHE_DIR": "/var/cache/packs",
        "PACK_REFRESH_INTERVAL": "5m",
        "PACK_SOURCE": "fs",
    }
    assert IndexSettings.from_env(environ) == IndexSettings(
        "https://packs/index.json", Path("/var/cache/packs"), 300.0
    )


def test_only_the_fs_pack_source_is_supported() -> None:
    with pytest.raises(ConfigError, match="unsupported PACK_SOURCE 'oci'"):
        IndexSettings.from_env({"PACK_INDEX_URL": "i.json", "PACK_SOURCE": "oci"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("500ms", 0.5), ("5m", 300.0), ("1h", 3600.0), ("2.5s", 2.5)],
)
def test_refresh_intervals_parse(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5", "soon", "5d", ""])
def test_bad_refresh_intervals_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid PACK_REFRESH_INTERVAL"):
        parse_interval(text)


def test_the_default_policy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from greentic_runner.packs.keys import env_public_key

    key = generate_key().public_key()
    monkeypatch.setenv("PACK_PUBLIC_KEY", env_public_key(key))
    assert IndexPackSource("i.json").policy.public_key is not None
    monkeypatch.delenv("PACK_PUBLIC_KEY")
    assert os.environ.get("PACK_PUBLIC_KEY") is None
    assert IndexPackSource("i.json").policy.public_key is None

"""Helpers for the pack archive tests: fixture paths and ZIP surgery."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from greentic_runner.packs.build import write_zip

UPSTREAM = Path(__file__).parent.parent / "fixtures" / "upstream"
SIGNED = UPSTREAM / "greentic-runner" / "examples" / "packs" / "demo.gtpack"
UNSIGNED = UPSTREAM / "greentic-runner" / "tests" / "fixtures" / "demo.gtpack"
DECODED = UPSTREAM / "derived" / "runner-demo-legacy.decoded.json"
INDEX = UPSTREAM / "greentic-runner" / "examples" / "index.json"
PACKC = UPSTREAM / "greentic-pack" / "crates" / "packc" / "tests" / "fixtures"
SOURCE_PACKS = {
    "weather-demo": UPSTREAM / "greentic-pack" / "examples" / "weather-demo",
    "billing-demo": UPSTREAM / "greentic-pack" / "examples" / "billing-demo",
    "valid-minimal": PACKC / "packs" / "valid-minimal",
    "hello2-pack": PACKC / "packs" / "hello2-pack",
    "component_exec_pack": PACKC / "component_exec_pack",
    "runner-weather-demo": UPSTREAM
    / "greentic-runner"
    / "tests"
    / "fixtures"
    / "gen-bindings"
    / "weather-demo",
}


def read_entries(path: Path) -> dict[str, bytes]:
    """Every entry of a (trusted, test-made) ZIP."""
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rewrite(src: Path, dst: Path, changes: Mapping[str, bytes | None]) -> Path:
    """Copy ``src`` to ``dst`` with entries replaced (bytes) or removed (None)."""
    entries = read_entries(src)
    for name, data in changes.items():
        if data is None:
            entries.pop(name, None)
        else:
            entries[name] = data
    dst.write_bytes(write_zip(entries))
    return dst


def raw_zip(
    entries: Iterable[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_STORED,
    mode: int | None = 0o100644,
) -> bytes:
    """A ZIP with exactly these entries (duplicates allowed) and unix ``mode``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = compression
                if mode is not None:
                    info.create_system = 3
                    info.external_attr = mode << 16
                archive.writestr(info, data)
    return buffer.getvalue()


def set_central_field(data: bytes, name: str, offset: int, value: int, width: int = 4) -> bytes:
    """Patch one little-endian field of ``name``'s central directory record."""
    marker = b"PK\x01\x02"
    pos = data.find(marker)
    while pos != -1:
        name_len = int.from_bytes(data[pos + 28 : pos + 30], "little")
        if data[pos + 46 : pos + 46 + name_len] == name.encode():
            patched = bytearray(data)
            patched[pos + offset : pos + offset + width] = value.to_bytes(width, "little")
            return bytes(patched)
        pos = data.find(marker, pos + 4)
    raise AssertionError(f"{name} not in the central directory")


# central directory record offsets
CD_FLAGS = 8
CD_COMPRESSED_SIZE = 20
CD_UNCOMPRESSED_SIZE = 24
CD_EXTERNAL_ATTR = 38

"""Safe reading of ``.gtpack`` ZIP containers (pack-formats §1.1).

:func:`open_archive` reads every entry into memory once, under hard limits, and returns an
:class:`ArchiveFiles` (a :class:`~greentic_runner.packs.files.PackFiles`). Hostile archives
fail with a PackError naming the archive and the entry:

* only regular files (directory entries are skipped; symlinks, devices, FIFOs rejected
  from the unix mode in the external attributes);
* entry names must be relative forward-slash paths: no ``..``, no absolute or drive paths,
  no backslashes, no NUL; two entries may not normalise to the same path;
* declared sizes: 16 MiB per entry, 64 MiB in total, at most 10,000 entries, and the
  archive file itself at most 80 MiB;
* compression: stored or deflate only, no encryption, a deflate ratio of at most 100:1,
  and reading stops at the declared size (zipfile also checks the CRC).
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PackError
from .files import normalize_member

MAX_ENTRY_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_ARCHIVE_FILE_BYTES = 80 * 1024 * 1024
MAX_ENTRIES = 10_000
MAX_COMPRESSION_RATIO = 100

_S_IFMT = 0o170000
_S_IFREG = 0o100000
_S_IFDIR = 0o040000
_CHUNK = 64 * 1024

# Everything zipfile (and zlib under it) raises for malformed input, translated once here.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    ValueError,
    NotImplementedError,
    OverflowError,
    UnicodeDecodeError,
    KeyError,
    IndexError,
    RuntimeError,
)


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Caps applied while reading an archive (tests shrink them)."""

    max_entry_bytes: int = MAX_ENTRY_BYTES
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_archive_file_bytes: int = MAX_ARCHIVE_FILE_BYTES
    max_entries: int = MAX_ENTRIES
    max_compression_ratio: int = MAX_COMPRESSION_RATIO


DEFAULT_LIMITS = ArchiveLimits()


class ArchiveFiles:
    """The entries of one archive, held in memory; names are normalised pack paths."""

    def __init__(self, label: str, entries: dict[str, bytes]) -> None:
        self.label = label
        self._entries = dict(entries)

    def read(self, name: str) -> bytes | None:
        """The entry's bytes, or None when absent or when ``name`` is not a safe path."""
        try:
            return self._entries.get(normalize_member(name))
        except PackError:
            return None

    def names(self) -> list[str]:
        """Every entry path, sorted."""
        return sorted(self._entries)

    def items(self) -> Iterable[tuple[str, bytes]]:
        """(path, bytes) pairs in sorted path order."""
        return ((name, self._entries[name]) for name in self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.read(name) is not None


def open_archive(path: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> ArchiveFiles:
    """Read the ZIP at ``path`` under ``limits``; PackError names the archive and entry."""
    label = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PackError(f"failed to open {label}: {exc.strerror or exc}") from exc
    if size > limits.max_archive_file_bytes:
        raise PackError(
            f"gtpack archive {label} exceeds maximum allowed size "
            f"({size} bytes; limit {limits.max_archive_file_bytes})"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            plan = _plan(label, infos, limits)
            entries = {name: _read_entry(label, archive, info, name) for name, info in plan}
    except PackError:
        raise
    except OSError as exc:
        raise PackError(f"failed to read {label}: {exc.strerror or exc}") from exc
    except _ZIP_ERRORS as exc:
        raise PackError(f"{label} is not a valid gtpack archive: {exc}") from exc
    return ArchiveFiles(label, entries)


def _plan(
    label: str, infos: list[zipfile.ZipInfo], limits: ArchiveLimits
) -> list[tuple[str, zipfile.ZipInfo]]:
    """Check every entry's metadata before reading any data."""
    if len(infos) > limits.max_entries:
        raise PackError(
            f"gtpack archive {label} has {len(infos)} entries; limit {limits.max_entries}"
        )
    plan: list[tuple[str, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        # zipfile cuts names at a NUL byte; the original name shows the trick
        raw = info.orig_filename if "\x00" in info.orig_filename else info.filename
        mode = info.external_attr >> 16
        file_type = mode & _S_IFMT
        is_dir = raw.endswith("/") or (file_type == _S_IFDIR)
        name = _safe_name(label, raw.rstrip("/") if is_dir else raw)
        if is_dir:
            continue  # directories carry no data; their names were still checked
        if file_type not in (0, _S_IFREG):
            raise PackError(
                f"archive {label} entry {name} is not a regular file "
                f"(unsupported file type {oct(file_type)}); only regular files are allowed"
            )
        if name in seen:
            raise PackError(f"archive {label} has a duplicate entry: {name}")
        seen.add(name)
        _check_sizes(label, name, info, limits)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise PackError(
                f"gtpack archive {label} exceeds maximum allowed size "
                f"({limits.max_total_bytes} bytes uncompressed)"
            )
        plan.append((name, info))
    return plan


def _safe_name(label: str, raw: str) -> str:
    first = raw.split("/", 1)[0]
    if len(first) >= 2 and first[1] == ":":
        raise PackError(f"archive {label} entry {raw!r} uses an absolute path")
    if raw.startswith("/"):
        raise PackError(f"archive {label} entry {raw!r} uses an absolute path")
    try:
        return normalize_member(raw)
    except PackError:
        raise PackError(f"archive {label} entry {raw!r} contains an unsafe path") from None


def _check_sizes(label: str, name: str, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    if info.flag_bits & 0x1:
        raise PackError(f"archive {label} entry {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackError(
            f"archive {label} entry {name} uses unsupported compression method {info.compress_type}"
        )
    if info.file_size > limits.max_entry_bytes:
        raise PackError(
            f"archive {label} entry {name} exceeds maximum allowed size of "
            f"{limits.max_entry_bytes} bytes"
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise PackError(f"archive {label} entry {name} has inconsistent stored sizes")
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > (
        max(info.compress_size, 1) * limits.max_compression_ratio
    ):
        raise PackError(
            f"archive {label} entry {name} exceeds the maximum compression ratio "
            f"({limits.max_compression_ratio}:1); refusing a possible zip bomb"
        )


def _read_entry(label: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """Read at most the declared size; one byte more means the headers lied."""
    chunks: list[bytes] = []
    received = 0
    with archive.open(info) as handle:
        while True:
            chunk = handle.read(min(_CHUNK, info.file_size - received + 1))
            if not chunk:
                break
            received += len(chunk)
            if received > info.file_size:
                raise PackError(f"archive {label} entry {name} is larger than declared")
            chunks.append(chunk)
    if received != info.file_size:
        raise PackError(f"archive {label} entry {name} is truncated")
    return b"".join(chunks)

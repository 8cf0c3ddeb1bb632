"""One parse per pack content, shared by the tenants that load it.

A server with many tenants usually loads the same pack for most of them. Parsed once per
tenant, 10,000 tenants cost 10,000 parses (≈ 4 ms and ≈ 3 KB each), and every turn ran on
its own tenant's copy of the flows, cold in the CPU caches (docs/performance.md,
``tenants-10k``). A loaded pack's flows, components and files never change after loading, so
:meth:`SharedPacks.load` gives every tenant that loads an unchanged pack its own
:class:`~.pack.PackRuntime` (its digest pin and probe cache stay its own) over the same
parsed parts.

*Unchanged* means the same fingerprint: for every file of the pack, its path, size,
modification time, change time and inode. Writing, replacing or renaming a file changes its
change time or its inode, which no user can set back, so an edited pack is parsed again (a
hot reload included). File times tick coarsely (a few ms on some file systems), so a file
changed within the last ``RECENT_SECS`` also has its content hashed into the fingerprint, as
git does for "racily clean" files: a same-size rewrite within one tick is still seen. A
parse is only remembered when the pack's fingerprint did not change while it was read.

The verification settings (``PACK_VERIFY_STRICT``, ``PACK_PUBLIC_KEY``) are part of the
key; a failed load is not remembered. Only the latest content of each path is kept (an older
one stays alive only while tenants still run it), for at most ``max_entries`` paths, the
least recently loaded dropped first. Warnings a parse logs (a missing declared asset…) are
logged once per content, not once per tenant.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from .loader import load_pack
from .pack import PackRuntime
from .source import PACK_YAML
from .verify import sha256_file

DEFAULT_MAX_ENTRIES = 256
RECENT_SECS = 2.0

# path, size, mtime_ns, ctime_ns, inode, content hash (recently changed files only, else "")
FileStamp = tuple[str, int, int, int, int, str]
Fingerprint = tuple[FileStamp, ...]
Key = tuple[str, tuple[str | None, str | None]]  # path, verification settings


def fingerprint(path: Path) -> Fingerprint:
    """The stamps of every file of the pack at ``path`` (a directory or one archive file);
    OSError when a file cannot be read."""
    if path.is_file() and path.name == PACK_YAML:
        path = path.parent
    recent = time.time_ns() - int(RECENT_SECS * 1e9)
    if not path.is_dir():
        return (_stamp(str(path), os.stat(path), recent),)
    stamps: list[FileStamp] = []
    pending = [str(path)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):  # as the loader lists files
                    pending.append(entry.path)
                elif entry.is_file():
                    stamps.append(_stamp(entry.path, entry.stat(), recent))
    return tuple(sorted(stamps))


def _stamp(name: str, stat: os.stat_result, recent_ns: int) -> FileStamp:
    recent = max(stat.st_ctime_ns, stat.st_mtime_ns) >= recent_ns
    content = sha256_file(Path(name)) if recent else ""
    return (name, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, content)


def _unchanged(path: Path, stamps: Fingerprint) -> bool:
    try:
        return fingerprint(path) == stamps
    except OSError:
        return False


def _verify_settings() -> tuple[str | None, str | None]:
    return os.environ.get("PACK_VERIFY_STRICT"), os.environ.get("PACK_PUBLIC_KEY")


class SharedPacks:
    """The latest parse of each pack path, with its fingerprint (see the module docstring).
    Thread-safe: the runtime loader loads packs on worker threads."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._parsed: OrderedDict[Key, tuple[Fingerprint, PackRuntime]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._parsed)

    def load(self, path: Path) -> PackRuntime:
        """``load_pack(path)``, parsed once per content; the loader's errors otherwise."""
        path = Path(path)
        key: Key = (str(path), _verify_settings())
        try:
            stamps = fingerprint(path)
        except OSError:
            return load_pack(path)  # missing or unreadable: the loader says which
        with self._lock:
            entry = self._parsed.get(key)
            if entry is not None and entry[0] == stamps:
                self._parsed.move_to_end(key)
                return replace(entry[1], identify_hints={})
        parsed = load_pack(path)
        if _unchanged(path, stamps):  # else the parse may mix two contents
            with self._lock:
                self._parsed[key] = (stamps, parsed)
                self._parsed.move_to_end(key)
                while len(self._parsed) > self.max_entries:
                    self._parsed.popitem(last=False)
        return replace(parsed, identify_hints={})

    def clear(self) -> None:
        with self._lock:
            self._parsed.clear()


SHARED_PACKS = SharedPacks()
"""The process's shared packs: what the runtime loader loads tenants' packs through."""

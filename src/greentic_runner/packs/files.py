"""Read access to the files of a pack, wherever they live (directory or archive)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Protocol

from ..errors import PackError


class PackFiles(Protocol):
    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when the pack has no such file."""
        ...

    def names(self) -> list[str]:
        """Every file, as a forward-slash path relative to the pack root, sorted."""
        ...


def normalize_member(name: str) -> str:
    """A safe relative forward-slash path; raises PackError for traversal attempts."""
    if "\\" in name or "\x00" in name:
        raise PackError(f"unsafe path {name!r} in pack")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part == ".." for part in path.parts):
        raise PackError(f"unsafe path {name!r} in pack")
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts:
        raise PackError(f"empty path {name!r} in pack")
    return "/".join(parts)


class DirectoryFiles:
    """Files under a pack directory; paths cannot escape the root (symlinks included)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, name: str) -> Path | None:
        try:
            candidate = (self.root / normalize_member(name)).resolve()
        except PackError:
            return None
        if not candidate.is_relative_to(self.root):
            return None
        return candidate

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        if path is None or not path.is_file():
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def names(self) -> list[str]:
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and path.resolve().is_relative_to(self.root)
        )

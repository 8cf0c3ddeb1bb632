"""sha256 whole-file pins for revision packs and index entries (spec §2.2)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import PackError, VerificationError


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_pin(path: Path, pin: str, what: str = "revision pack") -> None:
    """Raise unless ``path`` hashes to ``pin`` (``sha256:<hex>``), with the reference texts."""
    algorithm, sep, expected = pin.partition(":")
    if not sep or not algorithm or not expected:
        raise VerificationError(f"{what} `{path}` has an invalid digest `{pin}`")
    if algorithm.lower() != "sha256":
        raise VerificationError(
            f"{what} `{path}` pins unsupported digest algorithm `{algorithm}`; "
            "only sha256 is supported"
        )
    try:
        actual = file_sha256(path) if path.is_file() else _dir_error(path)
    except OSError as exc:
        raise PackError(f"hashing {what} `{path}` for digest verification: {exc}") from exc
    if actual != expected.lower():
        raise VerificationError(f"{what} `{path}` does not match pinned digest `{pin}`")


def _dir_error(path: Path) -> str:
    raise OSError(f"{path} is not a file")

"""``load_pack``: any pack location -> :class:`PackRuntime` (host-behaviour §2.3).

* a directory with ``pack.yaml`` (or that file itself): a pack source directory (source.py);
* a ``.gtpack`` file, or a directory with a root ``manifest.cbor``: an archive or a
  materialised pack, verified under the environment's policy (gtpack.py).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PackError
from .pack import PackRuntime
from .source import PACK_YAML, load_pack_dir


def load_pack(path: Path, *, digest: str | None = None) -> PackRuntime:
    """Load the pack at ``path``; ``digest`` (``sha256:…``) is recorded on the runtime.

    Raises PackError when the path does not exist or is not a pack, and the errors of the
    format readers (PackError, FlowError) naming the offending file.
    """
    path = Path(path)
    if path.is_file() and path.name == PACK_YAML:
        path = path.parent
    if path.is_dir():
        if (path / PACK_YAML).is_file():
            return load_pack_dir(path, digest=digest)
        if (path / "manifest.cbor").is_file():
            return _load_archive(path, digest)
        raise PackError(
            f"{path} is not a pack: expected a directory with pack.yaml or manifest.cbor, "
            "or a .gtpack file"
        )
    if path.is_file():
        if path.suffix.lower() == ".gtpack":
            return _load_archive(path, digest)
        raise PackError(
            f"{path} is not a pack: expected a directory with pack.yaml or manifest.cbor, "
            "or a .gtpack file"
        )
    raise PackError(f"pack path {path} does not exist")


def _load_archive(path: Path, digest: str | None) -> PackRuntime:
    from .gtpack import load_gtpack

    runtime = load_gtpack(path)
    if digest is not None:
        runtime.digest = digest
    return runtime

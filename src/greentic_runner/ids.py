"""Identifier grammars: tenant, env, pack, flow and the rollout ids of revisions."""

from __future__ import annotations

import re
import uuid
from functools import lru_cache

_ID = re.compile(r"[A-Za-z0-9._-]+\Z")
_ENDPOINT_ID = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")


@lru_cache(maxsize=16384)  # checked several times per turn; bounded (ids come from requests)
def is_valid_id(value: str) -> bool:
    """True for a non-empty string of ASCII letters, digits, ``.``, ``-`` and ``_``.

    This is the grammar the reference (greentic-types) accepts for env, tenant, team,
    user, pack and flow ids.
    """
    return bool(_ID.match(value))


def is_valid_endpoint_id(value: str) -> bool:
    """A messaging endpoint id: 1–128 bytes of ``[A-Za-z0-9._-]`` (spec §4.4)."""
    return bool(_ENDPOINT_ID.match(value))


def new_rollout_id() -> str:
    """A fresh opaque id for a deployment or revision (tests and embedders)."""
    return uuid.uuid4().hex

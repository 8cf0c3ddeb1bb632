"""Checks on the shape of decoded manifest data, with errors that say where it went wrong."""

from __future__ import annotations

from typing import Any

from ..errors import PackError


def expect_map(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PackError(f"{where} must be a map")
    return value


def expect_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PackError(f"{where} must be a list")
    return value


def expect_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PackError(f"{where} must be a non-empty string")
    return value

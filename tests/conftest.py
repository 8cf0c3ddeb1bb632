"""Shared fixtures. Helpers that users also need live in greentic_runner.testing."""

from __future__ import annotations

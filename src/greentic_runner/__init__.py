"""greentic-runner: a multi-tenant runtime host for Greentic packs."""

from __future__ import annotations

__version__ = "0.1.0"

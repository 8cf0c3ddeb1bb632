"""HealthState: what /healthz reports (spec §9.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(slots=True)
class HealthState:
    telemetry_ready: bool = False
    secrets_ready: bool = False
    last_reload: str | None = None
    last_error: str | None = None

    def record_reload(self) -> None:
        self.last_reload = datetime.now(UTC).isoformat()
        self.last_error = None

    def record_error(self, message: str) -> None:
        self.last_error = message

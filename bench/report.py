"""Scenario outcomes, their ``BENCH`` lines and the JSON report."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    """``ratio >= value`` (``at_least``) or ``ratio <= value``; reported, never asserted."""

    value: float
    at_least: bool = True

    def held(self, ratio: float) -> bool:
        return ratio >= self.value if self.at_least else ratio <= self.value

    def text(self) -> str:
        return f"{'>=' if self.at_least else '<='}{self.value:g}"


@dataclass
class Outcome:
    """One scenario's figures. ``ratio`` is greentic-runner over its comparison."""

    name: str
    metrics: dict[str, Any] = field(default_factory=dict)
    ratio: float | None = None
    ratio_means: str = ""
    target: Target | None = None
    status: str = "ok"  # ok | pending | skipped | failed
    note: str = ""
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)  # JSON report only

    @property
    def held(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.target.held(self.ratio)

    def line(self) -> str:
        """``BENCH <scenario> <metric>=<value> … ratio=<value>``."""
        parts = [f"BENCH {self.name}"]
        if self.status != "ok":
            parts.append(f"status={self.status}")
            if self.note:
                parts.append(f"reason={json.dumps(self.note)}")
        parts += [f"{key}={_fmt(value)}" for key, value in self.metrics.items()]
        if self.target is not None and self.ratio is not None:
            parts.append(f"target={self.target.text()}")
            parts.append(f"held={'yes' if self.held else 'no'}")
        parts.append(f"ratio={_fmt(self.ratio) if self.ratio is not None else 'n/a'}")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = self.target.text() if self.target else None
        out["held"] = self.held
        return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def write_report(path: Path, outcomes: list[Outcome], extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **extra,
        "scenarios": [outcome.to_json() for outcome in outcomes],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")

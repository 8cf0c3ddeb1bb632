"""greentic-runner's benchmark process: ``python -m bench.worker JOB [PARAMS_JSON]``.

Started fresh for every measurement by :mod:`bench.run`; pins itself to one core, runs one
job from :mod:`bench.scenarios` and prints its result line (see :mod:`bench.common`).
"""

from __future__ import annotations

import logging
from typing import Any

from .common import Job, worker_main


def jobs() -> dict[str, Job]:
    """Every job of greentic-runner's side (imported lazily: each pulls its own deps)."""
    from .scenarios import component, floor, pack_load, raw_stores, tenants, turns

    found: dict[str, Any] = {}
    for module in (turns, floor, raw_stores, pack_load, tenants, component):
        found.update(module.JOBS)
    return found


if __name__ == "__main__":
    # Library warnings would otherwise be printed once per turn on stderr.
    logging.basicConfig(level=logging.ERROR)
    raise SystemExit(worker_main(jobs()))

"""greentic-runner's side of every scenario: one module per kind of measurement.

Each module exposes ``JOBS`` (job name → ``async def job(params) -> dict``); the worker
process (:mod:`bench.worker`) runs one job per process.
"""

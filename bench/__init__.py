"""greentic-runner's benchmark harness: ``make bench`` (or ``python -m bench.run``).

Every claim is a ratio against a peer or a baseline measured in the same run; see
``docs/performance.md`` for the scenarios, the figures and how to reproduce them.

Layout: :mod:`bench.run` (the entry point) drives :mod:`bench.suite` (the scenarios, the
ratios and the targets); each measurement runs in a fresh process, either
:mod:`bench.worker` (greentic-runner's own virtualenv) or :mod:`bench.peer.worker` (the
Bot Framework peer's virtualenv ``.bench/``). :mod:`bench.common` is shared by both and
uses the standard library only.
"""

"""The peer: the same scenarios on the Microsoft Bot Framework SDK (botbuilder 4.17.1).

Runs only inside the peer's own virtualenv ``.bench/`` (created by ``make bench``), never
in greentic-runner's: ``.bench/bin/python -m bench.peer.worker JOB [PARAMS_JSON]``.
"""

"""``greentic-runner serve``: the HTTP server (registered into the CLI by ``cli.py``).

Thin: parse the flags, resolve the plan (flags > environment > config file > defaults, see
``server_config.py``), hand it to ``http.server.run``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from .server_config import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STORE, ServeFlags, resolve_plan


def register(commands: Any) -> None:
    """Add the ``serve`` subcommand to the CLI's subparsers."""
    serve = commands.add_parser(
        "serve",
        help="run the HTTP server (activities API, channel webhooks, /chat, admin, metrics)",
        description=__doc__,
    )
    serve.add_argument("--config", type=Path, help="server config file (YAML)")
    serve.add_argument(
        "--pack",
        action="append",
        default=[],
        metavar="[TENANT=]PATH",
        help="a pack directory or .gtpack to serve; repeat for more tenants, or for overlays "
        "of one tenant (the first is its main pack). TENANT defaults to $DEFAULT_TENANT (demo)",
    )
    serve.add_argument(
        "--bindings",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a tenant bindings YAML (its `tenant:` says which tenant it configures)",
    )
    serve.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument(
        "--store",
        help="session/state store: memory, sqlite:PATH or redis://HOST:PORT/DB "
        f"(default: $GREENTIC_RUNNER_SESSION_BACKEND settings, else {DEFAULT_STORE})",
    )
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    from .config import load_bindings
    from .http.server import run

    bindings = {Path(path): load_bindings(path).tenant for path in args.bindings}
    plan = resolve_plan(
        ServeFlags(
            config=args.config,
            packs=args.pack,
            bindings=args.bindings,
            host=args.host,
            port=args.port,
            store=args.store,
            workers=args.workers,
        ),
        bindings_tenant=bindings,
    )

    def ready() -> None:
        tenants = ", ".join(t.tenant for t in plan.tenants)
        url = f"http://{plan.host}:{plan.port}"
        print(
            f"greentic-runner serving {tenants} on {url} (chat: {url}/chat); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )

    run(plan, ready=ready)
    return 0

"""The ``greentic-runner`` command: thin argument parsing over the library.

Errors print one line ``error: <message>`` on stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .activity import Activity
from .config import HostConfig, load_bindings
from .errors import ConfigError, RunnerError
from .host import HostBuilder, RunnerHost
from .replies import is_waiting, reply_texts

DEFAULT_STORE = "sqlite:.greentic/runner.db"
DEFAULT_TENANT = "demo"


def _add_conversation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pack", type=Path, help="pack directory or .gtpack archive")
    parser.add_argument("--tenant", help="tenant id (default: the bindings' tenant, else demo)")
    parser.add_argument("--bindings", type=Path, help="bindings YAML for the tenant")
    parser.add_argument("--flow", help="flow id to run (default: resolved like a message)")
    parser.add_argument("--pack-id", help="pack id, when several packs have the flow")
    parser.add_argument("--user", default="local-user", help="user id (default: local-user)")
    parser.add_argument("--conversation", default="cli", help="conversation id (default: cli)")
    parser.add_argument("--channel", default="cli", help="channel id (default: cli)")
    parser.add_argument("--provider", default="cli", help="provider id (default: cli)")
    parser.add_argument("--endpoint", help="messaging endpoint id")
    parser.add_argument(
        "--store",
        help=f"session/state store URL: memory, sqlite:PATH, redis://HOST:PORT/DB "
        f"(default: $GREENTIC_RUNNER_SESSION_BACKEND settings, else {DEFAULT_STORE})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greentic-runner", description=__doc__)
    parser.add_argument("--version", action="version", version=f"greentic-runner {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run one turn and print reply activities as JSON lines")
    _add_conversation_options(run)
    source = run.add_mutually_exclusive_group()
    source.add_argument("--text", help="message text to send")
    source.add_argument("--activity", help="activity JSON file, or - for stdin")
    run.set_defaults(handler=_run_command)

    chat = commands.add_parser("chat", help="talk to a pack in the terminal")
    _add_conversation_options(chat)
    chat.set_defaults(handler=_chat_command)

    _register_optional(commands)
    return parser


def _register_optional(commands: Any) -> None:
    """Commands that live in their own modules (pack tools, HTTP server)."""
    for module in ("pack_cli", "serve_cli"):
        try:
            imported = __import__(f"greentic_runner.{module}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"greentic_runner.{module}":
                raise
            continue
        imported.register(commands)


# -- host setup ----------------------------------------------------------------------------


def tenant_config(args: argparse.Namespace) -> HostConfig:
    if args.bindings is not None:
        config = load_bindings(args.bindings)
        if args.tenant and args.tenant != config.tenant:
            raise ConfigError(
                f"--tenant {args.tenant} differs from tenant {config.tenant} in {args.bindings}"
            )
        return config
    return HostConfig(tenant=args.tenant or DEFAULT_TENANT)


async def open_host(args: argparse.Namespace, stack: AsyncExitStack) -> tuple[RunnerHost, str]:
    """Build the host on the chosen stores and load the pack."""
    from .storage.config import StorageConfig, open_stores

    if args.store:
        storage = StorageConfig.from_url(args.store)
    elif os.environ.get("GREENTIC_RUNNER_SESSION_BACKEND", "").strip():
        storage = StorageConfig.from_env()
    else:
        storage = StorageConfig.from_url(DEFAULT_STORE)
    stores = await open_stores(storage)
    stack.push_async_callback(stores.close)
    config = tenant_config(args)
    builder = (
        HostBuilder()
        .with_config(config)
        .with_session_store(stores.session)
        .with_state_store(stores.state)
    )
    if sys.stderr.isatty():  # compiling a large component takes seconds: show it
        from .components.cache import RichCompileProgress

        builder.with_compile_progress(RichCompileProgress())
    host = builder.build()
    await host.start()
    stack.push_async_callback(host.stop)
    await host.load_pack(config.tenant, args.pack)
    return host, config.tenant


def base_activity(args: argparse.Namespace, conversation: str | None = None) -> Activity:
    return Activity(
        flow_id=args.flow,
        pack_id=args.pack_id,
        user_id=args.user,
        conversation_id=conversation or args.conversation,
        channel_id=args.channel,
        provider_id=args.provider,
        messaging_endpoint_id=args.endpoint,
    )


def read_activity(args: argparse.Namespace, stdin: TextIO) -> Activity:
    """The activity to send: --activity JSON (fields from flags fill the gaps) or --text."""
    base = base_activity(args)
    if args.activity is None:
        text = args.text if args.text is not None else ""
        return base.with_(flow_type="messaging", payload={"text": text})
    raw = stdin.read() if args.activity == "-" else _read_file(Path(args.activity))
    given = Activity.from_json(raw)
    fills = {name: getattr(base, name) for name in _FLAG_FIELDS if getattr(given, name) is None}
    return given.with_(**fills)


_FLAG_FIELDS = (
    "flow_id",
    "pack_id",
    "user_id",
    "conversation_id",
    "channel_id",
    "provider_id",
    "messaging_endpoint_id",
)


def _read_file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read activity file {path}: {exc.strerror}") from exc


# -- commands ------------------------------------------------------------------------------


async def _run_command(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    activity = read_activity(args, stdin)
    async with AsyncExitStack() as stack:
        host, tenant = await open_host(args, stack)
        replies = await host.handle_activity(tenant, activity)
    for reply in replies:
        out.write(reply.to_json() + "\n")
    return 0


async def _chat_command(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    async with AsyncExitStack() as stack:
        host, tenant = await open_host(args, stack)
        conversation = args.conversation
        out.write("Type a message; /reset starts over, /quit leaves.\n")
        while True:
            out.write("you> ")
            out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line or line.strip() == "/quit":
                out.write("\n" if not line else "")
                return 0
            text = line.rstrip("\n")
            if text.strip() == "/reset":
                conversation = f"{args.conversation}-{uuid.uuid4().hex[:8]}"
                out.write("(new conversation)\n")
                continue
            activity = base_activity(args, conversation).with_(
                flow_type="messaging", payload={"text": text}
            )
            try:
                replies = await host.handle_activity(tenant, activity)
            except RunnerError as exc:
                out.write(f"error: {exc}\n")
                continue
            for message in reply_texts(replies):
                out.write(f"bot> {message}\n")
            out.write("(waiting for your answer)\n" if is_waiting(replies) else "(done)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.handler(args, sys.stdout, sys.stdin)
        code: int = asyncio.run(result) if asyncio.iscoroutine(result) else result
        return code
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line for the user, details with -v
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(f"error: internal error: {exc!r} (run with -v for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Cron timers: scheduled turns of a tenant runtime's flows (spec §8).

Each ``timers:`` entry of the bindings becomes one asyncio task owned by the
:class:`~greentic_runner.runtime.TenantRuntime` (``runtime.timers``); the runtime cancels them
when it leaves the active map (reload, stop).

Cron dialect: the reference's Rust ``cron`` crate. A 5-field expression gets a ``0`` seconds
field in front; 6 fields are ``sec min hour dom mon dow``, 7 add a year; ``@daily``-style
aliases are kept. Day-of-week numbers follow that crate: ``1``-``7`` = Sunday-Saturday (names
such as ``MON-FRI`` mean the same everywhere and are the safer choice). The expression is
translated for ``croniter`` (seconds moved via ``second_at_beginning``, day numbers shifted to
croniter's ``0``-``6``). An optional IANA ``timezone`` evaluates the fields in that zone.

Fire-once across processes: before running a fire, a runtime claims it in its session store
with ``register_wait_if_absent`` (atomic on memory, SQLite and Redis) under a synthetic
scope; processes sharing the store run each (schedule, fire time) once. See :func:`claim_fire`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from croniter import CroniterBadDateError, CroniterError, croniter

from . import telemetry
from .clock import SYSTEM_CLOCK, Clock
from .config import HostConfig, TimerSpec
from .envelope import IngressEnvelope
from .errors import ConfigError, RunnerError
from .flows.runner import run_turn
from .storage.session import SessionCursor, SessionData, SessionStore
from .tenancy import ReplyScope, TenantCtx

if TYPE_CHECKING:
    from .runtime import TenantRuntime

log = logging.getLogger(__name__)

Sleeper = Callable[[float], Awaitable[None]]
FireOutcome = Literal["ran", "failed", "skipped", "claimed-elsewhere"]

DEFAULT_CLAIM_TTL = 300.0
CLAIM_PREFIX = "timer-fire"
_DOW_ITEM = re.compile(r"^(?P<base>[^/]+)(?P<step>/\d+)?$")


@dataclass(frozen=True, slots=True)
class TimerOptions:
    """Where timers get time from, and how long a fire claim lives.

    ``claim_ttl`` must exceed the clock skew between processes sharing a store: a process
    that reaches a fire time after the claim expired would run that fire again."""

    clock: Clock = SYSTEM_CLOCK
    sleeper: Sleeper = asyncio.sleep
    claim_ttl: float = DEFAULT_CLAIM_TTL


DEFAULT_OPTIONS = TimerOptions()


# -- schedules -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated timer schedule: the reference form and its croniter translation."""

    schedule_id: str
    expression: str
    normalized: str
    croniter_expr: str
    zone: tzinfo = field(default=UTC)

    def upcoming(self, after: datetime) -> Iterator[datetime]:
        """Fire times strictly after ``after``, in UTC; ends when the schedule has none left."""
        cursor = croniter(self.croniter_expr, after.astimezone(self.zone), second_at_beginning=True)
        while True:
            try:
                moment = cursor.get_next(datetime)
            except CroniterBadDateError:
                return
            yield moment.astimezone(UTC)


def normalize_cron(expression: str) -> str:
    """The reference normalisation: 5 fields get a ``0`` seconds field; the rest is kept."""
    fields = expression.split()
    return f"0 {' '.join(fields)}" if len(fields) == 5 else expression.strip()


def _translate(normalized: str) -> str:
    """Reference (Rust cron) form -> croniter form. Raises ValueError when not translatable."""
    if normalized.startswith("@"):
        return normalized
    fields = normalized.split()
    if len(fields) not in (6, 7):
        raise ValueError(f"expected 6 or 7 fields, found {len(fields)}")
    fields[5] = ",".join(_shift_dow(item) for item in fields[5].split(","))
    return " ".join(fields)


def _shift_dow(item: str) -> str:
    """Rust cron counts weekdays 1-7 from Sunday, croniter 0-6; names need no change."""
    match = _DOW_ITEM.match(item)
    if match is None or "#" in item:
        raise ValueError(f"unsupported day-of-week item `{item}`")

    def shift(number: re.Match[str]) -> str:
        value = int(number.group())
        if not 1 <= value <= 7:
            raise ValueError(f"day-of-week {value} is outside 1-7")
        return str(value - 1)

    base = re.sub(r"\d+", shift, match["base"])
    low, dash, high = base.partition("-")
    if dash and low == high:
        base = low  # croniter reads a one-day range such as `3-3` as every day
    return base + (match["step"] or "")


def compile_schedule(timer: TimerSpec) -> CronSchedule:
    """Validate one timer. ConfigError ``invalid cron expression for {schedule_id}``."""
    schedule_id = timer.schedule_id
    normalized = normalize_cron(timer.cron)
    zone = _zone(timer)
    try:
        translated = _translate(normalized)
        # Constructing the iterator parses and range-checks every field.
        croniter(translated, datetime.now(UTC).astimezone(zone), second_at_beginning=True)
    except (CroniterError, ValueError, KeyError) as exc:
        raise ConfigError(f"invalid cron expression for {schedule_id}: {exc}") from exc
    return CronSchedule(schedule_id, timer.cron, normalized, translated, zone)


def _zone(timer: TimerSpec) -> tzinfo:
    if not timer.timezone:
        return UTC
    try:
        return ZoneInfo(timer.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"invalid timezone `{timer.timezone}` for timer {timer.schedule_id}"
        ) from exc


def compile_timers(config: HostConfig) -> list[tuple[TimerSpec, CronSchedule]]:
    """Every timer of the tenant, validated up front so one bad entry fails the whole load."""
    return [(timer, compile_schedule(timer)) for timer in config.timers]


# -- tasks ---------------------------------------------------------------------------------


def spawn_timers(runtime: TenantRuntime, options: TimerOptions = DEFAULT_OPTIONS) -> None:
    """Start one task per timer and register it on ``runtime.timers``.

    Must run inside an event loop. Raises ConfigError (nothing started) on an invalid cron."""
    compiled = compile_timers(runtime.config)
    for timer, schedule in compiled:
        task = asyncio.create_task(
            run_schedule(runtime, timer, schedule, options),
            name=f"timer:{runtime.tenant}:{schedule.schedule_id}",
        )
        runtime.timers.append(task)


async def run_schedule(
    runtime: TenantRuntime, timer: TimerSpec, schedule: CronSchedule, options: TimerOptions
) -> None:
    """Sleep until each upcoming fire time and fire; a time already past fires at once."""
    extra = _extra(runtime, timer)
    log.info(
        "registered timer schedule (cron %r, normalized %r)",
        schedule.expression,
        schedule.normalized,
        extra=extra,
    )
    start = datetime.fromtimestamp(options.clock.now(), UTC)
    for fire_at in schedule.upcoming(start):
        await options.sleeper(max(0.0, fire_at.timestamp() - options.clock.now()))
        await fire_timer(runtime, timer, fire_at, claim_ttl=options.claim_ttl)
    log.info("timer schedule completed", extra=extra)


async def fire_timer(
    runtime: TenantRuntime, timer: TimerSpec, fire_at: datetime, *, claim_ttl: float
) -> FireOutcome:
    """One fire: resolve the flow, claim the fire, run the turn. Never raises (results and
    errors are logged), so the schedule keeps going."""
    extra = _extra(runtime, timer)
    descriptor = runtime.registry.flow_by_id(timer.flow_id)
    if descriptor is None:
        log.error("timer flow is ambiguous; pack_id is required", extra=extra)
        return "skipped"
    extra["pack"] = descriptor.pack_id
    envelope = timer_envelope(
        runtime.tenant, descriptor.pack_id, timer.flow_id, timer.schedule_id, fire_at
    )
    try:
        claimed = await claim_fire(runtime.session_store, envelope, timer.schedule_id, claim_ttl)
    except Exception as exc:
        # Without a claim the fire might run twice across processes; skipping is safer.
        log.error("timer fire claim failed; fire skipped: %s", exc, extra=extra)
        return "failed"
    if not claimed:
        log.info("timer fire already claimed by another runner", extra=extra)
        return "claimed-elsewhere"
    log.info("triggering timer flow (scheduled for %s)", rfc3339(fire_at), extra=extra)
    with telemetry.turn_span(envelope, runtime.rollout):
        try:
            output = await run_turn(runtime.engine, runtime.resume, envelope)
        except RunnerError as exc:
            log.error("timer flow execution failed: %s", exc, extra=extra)
            return "failed"
        except Exception:
            log.exception("timer flow execution failed unexpectedly", extra=extra)
            return "failed"
    log.info("timer flow completed", extra=extra)
    log.debug("timer flow response: %s", output, extra=extra)
    return "ran"


def timer_envelope(
    tenant: str, pack_id: str, flow_id: str, schedule_id: str, fire_at: datetime
) -> IngressEnvelope:
    """The reference's timer envelope (spec §8), canonicalized.

    One deliberate difference: ``env`` is ``GREENTIC_ENV`` (absent when unset) rather than
    always absent, so a timer flow's state and waits live in the same env as the turns that
    HTTP and the CLI run in this process (the reference's engine reads ``GREENTIC_ENV`` for
    state anyway)."""
    stamp = rfc3339(fire_at)
    return IngressEnvelope(
        tenant=tenant,
        env=os.environ.get("GREENTIC_ENV") or None,
        pack_id=pack_id,
        flow_id=flow_id,
        flow_type="timer",
        action="timer",
        session_hint=schedule_id,
        provider="timer",
        channel=schedule_id,
        conversation=schedule_id,
        user=None,
        activity_id=f"{schedule_id}@{chrono_display(fire_at)}",
        timestamp=stamp,
        payload={"now": stamp, "schedule_id": schedule_id},
    ).canonicalize()


def rfc3339(moment: datetime) -> str:
    """chrono's ``to_rfc3339`` for a UTC time: ``2025-01-01T00:05:00+00:00``."""
    return moment.astimezone(UTC).isoformat()


def chrono_display(moment: datetime) -> str:
    """chrono's ``Display`` of a ``DateTime<Utc>``: ``2025-01-01 00:05:00 UTC``."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return f"{text} UTC"


# -- fire-once claims ----------------------------------------------------------------------


async def claim_fire(
    store: SessionStore, envelope: IngressEnvelope, schedule_id: str, ttl: float
) -> bool:
    """Claim (tenant, schedule, fire time) in ``store``; True when this process won.

    The claim is a session wait under a synthetic identity that no conversation can have:
    env = ``GREENTIC_ENV`` (else ``local``), the tenant, user ``timer-fire::{schedule_id}``,
    scope conversation ``timer-fire::{schedule_id}::{fire time rfc3339}``, key
    ``timer-fire::`` + sha256 of those parts; it expires after ``ttl`` seconds."""
    env = os.environ.get("GREENTIC_ENV") or "local"
    user = f"{CLAIM_PREFIX}::{schedule_id}"
    stamp = envelope.timestamp or ""
    ctx = TenantCtx(env=env, tenant=envelope.tenant, user=user)
    scope = ReplyScope(conversation=f"{CLAIM_PREFIX}::{schedule_id}::{stamp}")
    seed = f"{CLAIM_PREFIX}:v1\0{env}\0{envelope.tenant}\0{schedule_id}\0{stamp}"
    key = f"{CLAIM_PREFIX}::{hashlib.sha256(seed.encode()).hexdigest()}"
    data = SessionData(
        tenant_ctx=ctx,
        flow_id=envelope.flow_id,
        pack_id=envelope.pack_id,
        cursor=SessionCursor(node_pointer="fire", wait_reason="timer fire claim"),
        context_json=orjson.dumps(
            {"schedule_id": schedule_id, "fire_at": stamp, "claimed_by": _runner_name()}
        ).decode(),
    )
    won = await store.register_wait_if_absent(ctx, user, scope, key, data, ttl)
    # Listing the claims lets stores that expire lazily (memory) drop the expired ones.
    await store.list_waits_for_user(ctx, user)
    return won


def _runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _extra(runtime: TenantRuntime, timer: TimerSpec) -> dict[str, str]:
    return {"tenant": runtime.tenant, "flow": timer.flow_id, "schedule_id": timer.schedule_id}

"""One turn of a conversation: fetch a parked snapshot, run or resume, then clear or park
(spec §4.5, §4.7). The stored conversation changes only after the engine succeeded, so a
failed turn leaves it exactly as it was."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from ..envelope import IngressEnvelope
from ..errors import FlowError, RoutingError, RunnerError, with_context
from .context import FlowContext
from .registry import FlowRegistry
from .resume import ContactIdentity, FlowResumeStore, contact_identity
from .snapshot import Completed, FlowExecution, FlowSnapshot

MAX_PAYLOAD_BYTES = 512 * 1024


class Engine(Protocol):
    """What the turn runner needs from the flow engine."""

    registry: FlowRegistry

    async def execute(self, ctx: FlowContext, input: Any) -> FlowExecution: ...

    async def resume(
        self, ctx: FlowContext, snapshot: FlowSnapshot, input: Any
    ) -> FlowExecution: ...


def flow_context(envelope: IngressEnvelope, pack_id: str, flow_id: str) -> FlowContext:
    return FlowContext(  # positional: built on every turn
        envelope.tenant,
        pack_id,
        flow_id,
        envelope.ctx_env(),
        envelope.flow_type,
        envelope.action,
        envelope.session_hint,
        envelope.provider,
        envelope.user,
        envelope.messaging_endpoint_id,
    )


def turn_lock_name(envelope: IngressEnvelope, identity: ContactIdentity | None = None) -> str:
    """Turns of one conversation (contact bucket + reply scope) run one at a time."""
    identity = identity or contact_identity(envelope)
    conversation = envelope.reply_scope.conversation if envelope.reply_scope else ""
    return f"turn:{identity.ctx.env}:{identity.ctx.tenant}:{identity.user}:{conversation}"


async def run_turn(
    engine: Engine, resume: FlowResumeStore, envelope: IngressEnvelope, *, canonical: bool = False
) -> Any:
    """Run one turn; returns the flow output, or the ``pending`` object of a paused turn.

    ``canonical``: the envelope comes from :meth:`IngressEnvelope.canonical` (perhaps with
    fields replaced since), so canonicalizing it again would change nothing."""
    if not canonical:
        envelope = envelope.canonicalize()
    if envelope.pack_id is None:
        raise RoutingError("pack_id missing; ingress must specify pack_id for multi-pack flows")
    _check_size(envelope)
    identity = contact_identity(envelope)
    # The lock and the read of the parked wait are one store round trip where the store
    # allows (storage/turns.py); the turn's park or clear is its last write.
    async with resume.begin_turn(envelope, identity, turn_lock_name(envelope, identity)) as turn:
        try:
            snapshot = resume.snapshot_of(envelope, turn.parked)
            if snapshot is not None:
                ctx = flow_context(envelope, snapshot.pack_id, snapshot.resume_flow)
                execution = await engine.resume(ctx, snapshot, envelope.payload)
            else:
                if engine.registry.flow_by_key(envelope.pack_id, envelope.flow_id) is None:
                    raise RoutingError(
                        f"flow {envelope.flow_id} not registered for pack {envelope.pack_id}"
                    )
                ctx = flow_context(envelope, envelope.pack_id, envelope.flow_id)
                execution = await engine.execute(ctx, envelope.payload)
            if isinstance(execution, Completed):
                await resume.clear(envelope, identity, turn)
                return execution.output
            reply_scope = await resume.save(envelope, execution.wait, identity, turn)
        except RunnerError as exc:
            raise with_context("flow execution failed", exc) from exc
    return {
        "status": "pending",
        "reason": execution.wait.reason,
        "resume": execution.wait.snapshot.to_dict(),
        "reply_scope": reply_scope.to_dict(),
        "response": execution.output,
    }


def _check_size(envelope: IngressEnvelope) -> None:
    """The reference caps the serialized ingress at 512 KiB; the payload is all that can
    grow, so only it is measured."""
    try:
        size = len(orjson.dumps(envelope.payload))
    except TypeError as exc:
        raise FlowError(f"payload of flow {envelope.flow_id} is not JSON: {exc}") from exc
    if size > MAX_PAYLOAD_BYTES:
        raise FlowError(
            f"payload exceeds max size {MAX_PAYLOAD_BYTES} bytes "
            f"(flow {envelope.flow_id}, {size} bytes)"
        )

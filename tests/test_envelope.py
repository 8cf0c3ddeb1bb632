from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greentic_runner.envelope import IngressEnvelope
from greentic_runner.ids import is_valid_endpoint_id
from greentic_runner.tenancy import ReplyScope


def envelope(**fields: object) -> IngressEnvelope:
    base: dict[str, object] = {"tenant": "demo", "flow_id": "flow"}
    base.update(fields)
    return IngressEnvelope(**base)  # type: ignore[arg-type]


def test_defaults_fill_provider_channel_conversation_user_and_scope() -> None:
    env = envelope().canonicalize()
    assert (env.provider, env.channel, env.conversation, env.user) == (
        "provider",
        "flow",
        "flow",
        "user",
    )
    assert env.session_hint == "demo:provider:flow:flow:user"
    assert env.reply_scope == ReplyScope(conversation="flow")


def test_conversation_defaults_to_channel() -> None:
    env = envelope(channel="chan").canonicalize()
    assert env.conversation == "chan"


def test_user_falls_back_to_session_hint_then_activity_id() -> None:
    assert envelope(session_hint="h").canonicalize().user == "h"
    assert envelope(activity_id="a1").canonicalize().user == "a1"
    assert envelope(session_hint="h", activity_id="a1").canonicalize().user == "h"
    assert envelope(user="u", session_hint="h").canonicalize().user == "u"


def test_without_endpoint_the_pre_m14_hint_bytes_are_kept() -> None:
    env = envelope(channel="chan", conversation="conv", user="user").canonicalize()
    assert env.session_hint == "demo:provider:chan:conv:user"


@pytest.mark.parametrize("eid", ["teams-legal", "01HA1ABCDE", "teams_legal.v2", "a" * 128])
def test_valid_endpoint_ids_prefix_the_session_hint(eid: str) -> None:
    env = envelope(messaging_endpoint_id=eid).canonicalize()
    assert env.messaging_endpoint_id == eid
    assert env.session_hint == f"ep={eid}::demo:provider:flow:flow:user"


@pytest.mark.parametrize("eid", ["", "teams:legal", "teams legal", "a\nb", "a" * 129, "é"])
def test_invalid_endpoint_ids_are_dropped_with_a_warning(
    eid: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        env = envelope(messaging_endpoint_id=eid).canonicalize()
    assert env.messaging_endpoint_id is None
    assert env.session_hint == "demo:provider:flow:flow:user"
    assert "invalid messaging_endpoint_id" in caplog.text


def test_explicit_hints_are_partitioned_by_endpoint_once() -> None:
    env = envelope(session_hint="abc", messaging_endpoint_id="teams-legal").canonicalize()
    assert env.session_hint == "ep=teams-legal::abc"
    assert env.canonicalize().session_hint == "ep=teams-legal::abc"
    other = envelope(session_hint="abc", messaging_endpoint_id="teams-hr").canonicalize()
    assert other.session_hint != env.session_hint


def test_an_existing_reply_scope_is_kept() -> None:
    scope = ReplyScope("c", thread="t")
    assert envelope(reply_scope=scope).canonicalize().reply_scope == scope


def test_tenant_ctx_defaults_env_and_replaces_invalid_tenant() -> None:
    ctx = envelope(tenant="bad tenant!", env="not valid").canonicalize().tenant_ctx()
    assert (ctx.env, ctx.tenant) == ("local", "tenant.default")
    good = envelope(env="prod", messaging_endpoint_id="ep1").canonicalize().tenant_ctx()
    assert (good.env, good.tenant, good.flow) == ("prod", "demo", "flow")
    assert good.attributes == {"messaging_endpoint_id": "ep1"}


def test_envelope_dict_round_trip() -> None:
    env = envelope(payload={"x": 1}, messaging_endpoint_id="e").canonicalize()
    assert IngressEnvelope.from_dict(env.to_dict()) == env


_text = st.none() | st.text(max_size=20)


@given(
    session_hint=_text,
    provider=_text,
    channel=_text,
    conversation=_text,
    user=_text,
    endpoint=_text,
    activity_id=_text,
)
def test_canonicalize_is_idempotent(
    session_hint: str | None,
    provider: str | None,
    channel: str | None,
    conversation: str | None,
    user: str | None,
    endpoint: str | None,
    activity_id: str | None,
) -> None:
    once = envelope(
        session_hint=session_hint,
        provider=provider,
        channel=channel,
        conversation=conversation,
        user=user,
        messaging_endpoint_id=endpoint,
        activity_id=activity_id,
    ).canonicalize()
    assert once.canonicalize() == once


_GRAMMAR = re.compile(r"[A-Za-z0-9._-]{1,128}")


@given(st.text(max_size=140))
def test_endpoint_id_validation_agrees_with_its_grammar(candidate: str) -> None:
    expected = _GRAMMAR.fullmatch(candidate) is not None and candidate.isascii()
    assert is_valid_endpoint_id(candidate) == expected


@given(st.text(alphabet="abcXYZ019._-", min_size=1, max_size=128))
def test_every_grammar_word_is_a_valid_endpoint_id(candidate: str) -> None:
    assert is_valid_endpoint_id(candidate)


def test_canonicalize_keeps_every_other_field() -> None:
    from dataclasses import fields

    full = envelope(
        env="prod",
        pack_id="p",
        flow_type="messaging",
        action="messaging",
        entry_node="n",
        activity_id="a",
        timestamp="t",
        payload={"x": 1},
        metadata={"m": 2},
    )
    canonical = full.canonicalize()
    filled = {"provider", "channel", "conversation", "user", "session_hint", "reply_scope"}
    for item in fields(IngressEnvelope):
        if item.name not in filled:
            assert getattr(canonical, item.name) == getattr(full, item.name), item.name

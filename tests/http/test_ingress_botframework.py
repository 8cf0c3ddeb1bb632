"""WebChat/Direct Line and Teams: Bot Framework activities in, ExpectedReplies out."""

from __future__ import annotations

import copy
from typing import Any

from tests.http.harness import TurnSpy, build_app, client, payload

from greentic_runner.host import RunnerHost

WEBCHAT, TEAMS = "/webchat/activities", "/teams/activities"


def webchat(activity_id: str, text: str | None = None, **extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(payload("webchat_message"))
    body["id"] = activity_id
    if text is not None:
        body["text"] = text
    body.update(extra)
    return body


async def test_webchat_message_maps_to_the_canonical_payload(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        await http.post(WEBCHAT, json=payload("webchat_message"))
    [(_, activity)] = spy.calls
    assert activity.session_id == "demo:webchat:JQyTnbqPpQ1C8MjTu5c6xY-eu:dl_7f3c2a"
    canonical = activity.payload
    assert canonical["provider"] == "webchat"
    assert canonical["locale"] == "en-US"
    assert canonical["timestamp"] == "2026-11-26T10:00:00.123456+00:00"
    assert canonical["provider_ids"] == {
        "conversation_id": "JQyTnbqPpQ1C8MjTu5c6xY-eu",
        "user_id": "dl_7f3c2a",
        "message_id": "JQyTnbqPpQ1C8MjTu5c6xY-eu|0000003",
        "event_id": "JQyTnbqPpQ1C8MjTu5c6xY-eu|0000003",
    }
    assert canonical["channel_data"]["channel_id"] == "directline"


async def test_webchat_conversation_replies_as_bot_activities(host: RunnerHost) -> None:
    async with client(build_app(host)) as http:
        first = (await http.post(WEBCHAT, json=webchat("a|1", "hi"))).json()
        second = (await http.post(WEBCHAT, json=webchat("a|2", "Ada"))).json()
        submit = webchat("a|3", None, value={"value": "red"})
        del submit["text"]
        third = (await http.post(WEBCHAT, json=submit)).json()
    replies = first["activities"]
    assert [r["text"] for r in replies] == ["Hello! I am the test bot.", "What is your name?"]
    assert [r["inputHint"] for r in replies] == ["acceptingInput", "expectingInput"]
    bot = replies[0]
    assert bot["type"] == "message"
    assert bot["from"] == {"id": "greentic-bot@ABCdef", "name": "greentic-bot"}
    assert bot["recipient"] == {"id": "dl_7f3c2a", "name": "Ada", "role": "user"}
    assert bot["conversation"] == {"id": "JQyTnbqPpQ1C8MjTu5c6xY-eu"}
    assert bot["replyToId"] == "a|1"
    [question] = second["activities"]
    assert question["suggestedActions"] == {
        "actions": [
            {"type": "imBack", "title": "red", "value": "red"},
            {"type": "imBack", "title": "blue", "value": "blue"},
        ]
    }
    [done] = third["activities"]
    assert done["text"] == "Thanks Ada, red it is." and done["inputHint"] == "acceptingInput"


async def test_non_message_activities_and_redeliveries_run_nothing(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    async with client(build_app(host)) as http:
        update = await http.post(WEBCHAT, json=payload("webchat_conversation_update"))
        await http.post(WEBCHAT, json=webchat("b|1", "hi"))
        again = await http.post(WEBCHAT, json=webchat("b|1", "hi"))
    assert update.json() == {"activities": []}
    assert len(spy.calls) == 1
    assert again.status_code == 200


async def test_activity_without_sender_is_400(host: RunnerHost) -> None:
    body = webchat("c|1", "hi")
    del body["from"]
    async with client(build_app(host)) as http:
        response = await http.post(WEBCHAT, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "webchat activity has no `from.id`"


async def test_teams_channel_message_anchors_on_reply_to_and_strips_mentions(
    host: RunnerHost,
) -> None:
    spy = TurnSpy(host)
    raw = payload("teams_message")
    async with client(build_app(host)) as http:
        response = await http.post(TEAMS, json=raw)
    [(_, activity)] = spy.calls
    user = raw["from"]["id"]
    assert activity.session_id == f"demo:teams:1764151100000:{user}"
    canonical = activity.payload
    assert canonical["text"] == "hi"
    assert canonical["entities"]["mentions"] == ["Greentic"]
    assert canonical["provider_ids"]["team_id"] == "19:ffeeddccbbaa@thread.tacv2"
    assert canonical["provider_ids"]["channel_id"] == "19:a1b2c3d4e5f6@thread.tacv2"
    assert canonical["provider_ids"]["thread_id"] == "1764151100000"
    assert canonical["provider_ids"]["workspace_id"] == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert canonical["attachments"][0]["mime"] == "text/html"
    assert [a["text"] for a in response.json()["activities"]][-1] == "What is your name?"


async def test_teams_personal_chat_anchors_on_the_conversation(host: RunnerHost) -> None:
    spy = TurnSpy(host)
    raw = payload("teams_personal_message")
    async with client(build_app(host)) as http:
        await http.post(TEAMS, json=raw)
    [(_, activity)] = spy.calls
    assert activity.session_id == f"demo:teams:{raw['conversation']['id']}:{raw['from']['id']}"

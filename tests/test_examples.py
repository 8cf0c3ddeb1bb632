"""The example packs load and hold the conversations their READMEs show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from greentic_runner.activity import Activity
from greentic_runner.config import HostConfig, load_bindings
from greentic_runner.errors import RunnerError
from greentic_runner.host import HostBuilder, RunnerHost
from greentic_runner.packs.loader import load_pack
from greentic_runner.replies import is_waiting, reply_texts

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class Chat:
    """One conversation with a pack through the in-memory host."""

    def __init__(self, host: RunnerHost, tenant: str, conversation: str = "c1") -> None:
        self.host, self.tenant, self.conversation = host, tenant, conversation

    async def say(self, text: str) -> tuple[list[str], bool]:
        activity = Activity(
            flow_type="messaging",
            payload={"text": text},
            user_id="u1",
            conversation_id=self.conversation,
            channel_id="test",
            provider_id="test",
        )
        replies = await self.host.handle_activity(self.tenant, activity)
        return reply_texts(replies), is_waiting(replies)


async def open_host(example: str, config: HostConfig) -> AsyncIterator[RunnerHost]:
    host = HostBuilder().with_config(config).build()
    await host.start()
    try:
        await host.load_pack(config.tenant, EXAMPLES / example)
        yield host
    finally:
        await host.stop()


@pytest.fixture
async def hello() -> AsyncIterator[RunnerHost]:
    async for host in open_host("hello", HostConfig(tenant="demo")):
        yield host


@pytest.fixture
async def onboarding() -> AsyncIterator[RunnerHost]:
    async for host in open_host("onboarding", HostConfig(tenant="demo")):
        yield host


@pytest.mark.parametrize("name", ["hello", "onboarding", "mocked-component"])
def test_every_example_is_a_documented_pack(name: str) -> None:
    pack = load_pack(EXAMPLES / name)
    assert pack.flows
    assert (EXAMPLES / name / "README.md").read_text().count("greentic-runner run") >= 1


async def test_hello_greets(hello: RunnerHost) -> None:
    assert await Chat(hello, "demo").say("hi") == (
        ["Hello from greentic-runner! You said: hi"],
        False,
    )


async def test_onboarding_conversation_from_the_readme(onboarding: RunnerHost) -> None:
    chat = Chat(onboarding, "demo")
    script = [
        ("hi", ["Welcome to Greentic! Let's set up your workspace.", "What is your name?"]),
        (
            "Ada Lovelace King Of Math",
            ["Please answer in at most 3 words.", "What is your name?"],
        ),
        ("Ada", ["Which plan would you like: free or pro?"]),
        (
            "premium",
            ["Please choose one of: free, pro.", "Which plan would you like: free or pro?"],
        ),
        ("pro", ["How many seats do you need?"]),
        ("many", ["Please answer with a whole number.", "How many seats do you need?"]),
    ]
    for text, expected in script:
        assert await chat.say(text) == (expected, True), text
    assert await chat.say("3") == (
        ["Preparing a pro workspace for Ada with 3 seats. Enjoy Greentic!"],
        False,
    )
    # Same name, new conversation: state.get finds the first one's record.
    again = Chat(onboarding, "demo", conversation="c2")
    for text in ("hi", "Ada", "free"):
        await again.say(text)
    assert await again.say("1") == (["Your free workspace is ready, Ada. Welcome back!"], False)


async def test_mocked_component_answers_from_the_bindings() -> None:
    config = load_bindings(EXAMPLES / "mocked-component" / "bindings.yaml")
    async for host in open_host("mocked-component", config):
        london = Chat(host, config.tenant)
        assert await london.say("hi") == (["Weather desk here.", "Which city?"], True)
        assert await london.say("London") == (["London, GB: light rain, 11°C."], False)
        oslo = Chat(host, config.tenant, conversation="c2")
        await oslo.say("hi")
        assert await oslo.say("Oslo") == (["Elsewhere: sunny, 21°C."], False)


async def test_mocked_component_without_mocks_names_the_component_and_its_source() -> None:
    pack = load_pack(EXAMPLES / "mocked-component")
    source = "oci://ghcr.io/greentic-examples/weather-api:0.1.0"
    assert pack.components["weather_api"].source_ref == source
    async for host in open_host("mocked-component", HostConfig(tenant="demo")):
        chat = Chat(host, "demo")
        await chat.say("hi")
        with pytest.raises(RunnerError) as err:
            await chat.say("London")
        assert "weather_api" in str(err.value)
        assert source in str(err.value)

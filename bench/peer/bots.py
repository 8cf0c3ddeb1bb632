"""The peer's bots, written the way the Bot Framework documentation and samples write them.

* :class:`EchoBot`: the SDK's echo sample, an ``ActivityHandler`` replying
  ``You said: <text>`` with ``MessageFactory.text``.
* :class:`AskNameBot`: a ``WaterfallDialog`` (ask, greet) with a ``TextPrompt``; dialog
  state lives in ``ConversationState`` over ``MemoryStorage`` and is saved after every turn.
  The dialog is driven the lean way the SDK's own tests drive it (``DialogSet`` →
  ``continue_dialog`` → ``begin_dialog`` when nothing is active), not through
  ``DialogExtensions.run_dialog``, whose extra memory scopes would only slow the peer down.

Both run in-process on the SDK's ``TestAdapter``; replies land in its ``activity_buffer``.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import (
    ActivityHandler,
    ConversationState,
    MemoryStorage,
    MessageFactory,
    TurnContext,
)
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import (
    DialogSet,
    DialogTurnResult,
    DialogTurnStatus,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.dialogs.prompts import PromptOptions, TextPrompt
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from .. import scripts


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        text = scripts.ECHO_REPLY.format(turn_context.activity.text)
        await turn_context.send_activity(MessageFactory.text(text))


class AskNameBot(ActivityHandler):
    """Turn 1 asks for the name (the dialog waits in the prompt); turn 2 greets."""

    def __init__(self) -> None:
        self.conversation_state = ConversationState(MemoryStorage())
        self.dialogs = DialogSet(self.conversation_state.create_property("DialogState"))
        self.dialogs.add(TextPrompt("name"))
        self.dialogs.add(WaterfallDialog("ask-name", [self.ask, self.greet]))

    async def ask(self, step: WaterfallStepContext) -> DialogTurnResult:
        step.values["first"] = step.context.activity.text
        prompt = MessageFactory.text(scripts.ASK_PROMPT)
        return await step.prompt("name", PromptOptions(prompt=prompt))

    async def greet(self, step: WaterfallStepContext) -> DialogTurnResult:
        text = scripts.ASK_GREETING.format(name=step.result, first=step.values["first"])
        await step.context.send_activity(MessageFactory.text(text))
        return await step.end_dialog()

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        dialog_context = await self.dialogs.create_context(turn_context)
        result = await dialog_context.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dialog_context.begin_dialog("ask-name")

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        await self.conversation_state.save_changes(turn_context)


def adapter_for(bot: ActivityHandler) -> TestAdapter:
    return TestAdapter(bot.on_turn)


def message(user: str, conversation: str, text: str) -> Activity:
    """What a channel sends for one message (the adapter fills the rest from its template)."""
    return Activity(
        type=ActivityTypes.message,
        text=text,
        from_property=ChannelAccount(id=user),
        conversation=ConversationAccount(id=conversation),
    )


def drain(adapter: TestAdapter) -> list[Any]:
    """The texts of the replies sent since the last drain."""
    texts = [activity.text for activity in adapter.activity_buffer]
    adapter.activity_buffer.clear()
    return texts

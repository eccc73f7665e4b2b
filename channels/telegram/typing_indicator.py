"""The "typing…" indicator, shown once an answer takes noticeable time and kept up until it is sent.

Telegram asks bots to use sendChatAction "only when a response from the bot will take a noticeable
amount of time to arrive": an answer ready within the grace period goes out with no indicator before it,
which also spares the bot one request per quick reply and never holds the answer behind a round trip.
"""

from __future__ import annotations

import asyncio

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.foundation.messages import ConversationReference

# Below this a reader does not wait, so there is nothing to indicate.
GRACE_SECONDS = 0.5
# Telegram shows "typing…" for about 5 seconds; repeat it until the answer goes out, within reason.
REFRESH_SECONDS = 4.5
MAX_SECONDS = 90.0

_Key = tuple[str, str | None]


class TypingIndicator:
    """Shows "typing…" in a chat from `GRACE_SECONDS` after `show` until `clear` (the reply is sent) or
    90 seconds."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        # The grace period is a timer, not a task: most answers are sent before it ends, and a task
        # created and cancelled for each of them cost more than the timer.
        self._timers: dict[_Key, asyncio.TimerHandle] = {}
        self._tasks: dict[_Key, asyncio.Task[None]] = {}

    async def show(self, conversation: ConversationReference) -> None:
        """Start showing "typing…" in the background, unless the answer is sent within the grace period."""
        chat_id, thread_id = chat_address(conversation)
        self.clear(conversation)
        key = (conversation.chat_id, conversation.thread_id)
        self._timers[key] = asyncio.get_running_loop().call_later(
            GRACE_SECONDS, self._begin, key, chat_id, thread_id
        )

    def showing(self) -> int:
        """How many chats have an indicator pending or shown."""
        return len(self._timers) + len(self._tasks)

    def clear(self, conversation: ConversationReference) -> None:
        """Stop renewing (Telegram hides the indicator itself when a message arrives)."""
        key = (conversation.chat_id, conversation.thread_id)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Stop every indicator."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _begin(self, key: _Key, chat_id: int | str, thread_id: int | None) -> None:
        """The grace period is over and the answer is not sent: show the indicator from now on."""
        self._timers.pop(key, None)
        self._tasks[key] = asyncio.create_task(self._renew(key, chat_id, thread_id))

    async def _renew(self, key: _Key, chat_id: int | str, thread_id: int | None) -> None:
        try:
            for _ in range(int(MAX_SECONDS / REFRESH_SECONDS)):
                await self._bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
                await asyncio.sleep(REFRESH_SECONDS)
        except TelegramError:
            pass  # cosmetic: the answer matters, not the indicator
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]


def chat_address(conversation: ConversationReference) -> tuple[int | str, int | None]:
    """The Bot API's chat_id and message_thread_id for a conversation.

    Chats are numbers; a public channel may also be addressed as `@name`. The thread is a forum topic.
    """
    try:
        chat_id: int | str = int(conversation.chat_id)
    except ValueError:
        chat_id = conversation.chat_id
    return chat_id, int(conversation.thread_id) if conversation.thread_id else None

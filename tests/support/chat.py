"""Conversation tests that read like a chat: `await chat.send("/start"); await chat.expect_reply(...)`."""

from __future__ import annotations

import uuid
from datetime import datetime

from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage
from bot.runtime import Coachline
from tests.support.waiting import HANG_SECONDS


class ChatDriver:
    """One person talking to the service on one channel."""

    def __init__(
        self,
        service: Coachline,
        *,
        channel: str = "web",
        user_id: str = "alice",
        user_name: str | None = None,
        creator_id: str | None = None,
        timeout: float = HANG_SECONDS,
    ) -> None:
        self.service = service
        self.channel = channel
        self.user_id = user_id
        self.user_name = user_name
        self.creator_id = creator_id
        self.timeout = timeout
        self._last_inbox_id: int | None = None
        self.replies: list[str] = []

    def message(
        self,
        text: str,
        *,
        message_id: str | None = None,
        at: datetime | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> IncomingMessage:
        """The normalised message this person would send."""
        return IncomingMessage(
            channel=self.channel,
            user_id=self.user_id,
            user_name=self.user_name,
            conversation=ConversationReference(self.channel, self.user_id, creator_id=self.creator_id),
            message_id=message_id or uuid.uuid4().hex,
            text=text,
            received_at=at or self.service.now(),
            attachments=attachments,
        )

    async def send(
        self, text: str, *, message_id: str | None = None, attachments: tuple[Attachment, ...] = ()
    ) -> int:
        """Send a message (with files, if given); returns its inbox id."""
        accepted = await self.service.receive(
            self.message(text, message_id=message_id, attachments=attachments)
        )
        self._last_inbox_id = accepted.inbox_id
        return accepted.inbox_id

    async def expect_reply(self, *, contains: str | None = None, excludes: str | None = None) -> str:
        """Wait for the answer to the last message and check it; returns the reply text."""
        assert self._last_inbox_id is not None, "send something first"
        outcome = await self.service.wait_for_replies(self._last_inbox_id, self.timeout)
        assert outcome.finished, f"no reply within {self.timeout}s"
        text = "\n\n".join(row.text for row in outcome.replies)
        self.replies.append(text)
        if contains is not None:
            assert contains.lower() in text.lower(), f"expected {contains!r} in reply {text!r}"
        if excludes is not None:
            assert excludes.lower() not in text.lower(), f"did not expect {excludes!r} in reply {text!r}"
        return text

    async def ask(self, text: str) -> str:
        """Send and wait for the reply."""
        await self.send(text)
        return await self.expect_reply()

"""What the core asks of the running channels beyond sending: who speaks first, files, typing."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.foundation.messages import Attachment, ConversationReference
from channels.base import Channel
from coaching.documents import DocumentRejected
from programs.eligibility import channel_refusal

log = logging.getLogger(__name__)


class ChannelReach:
    """The channels this instance runs, seen from the core (the outbox worker sends through them)."""

    def __init__(self, channels: Mapping[str, Channel], *, max_upload_bytes: int) -> None:
        self.channels = channels
        self.max_upload_bytes = max_upload_bytes

    def messaging_channels(self) -> list[str]:
        """The channels this instance sends to that reach people by themselves (not the local ones)."""
        # The page, the chat API and the terminal only show replies to their own requests.
        return [name for name, channel in self.channels.items() if channel.capabilities.speaks_first]

    def refusal(self, channel: str) -> str | None:
        """Why this instance cannot send on `channel`, or None when it can."""
        return channel_refusal(channel, self.channels)

    async def fetch_attachment(self, channel: str, attachment: Attachment) -> bytes:
        """An attachment's bytes, fetched by the channel it came through (with its credentials)."""
        if channel not in self.channels:
            raise DocumentRejected(f"files sent on {channel} cannot be fetched by this instance")
        return await self.channels[channel].fetch_attachment(attachment, self.max_upload_bytes)

    async def indicate_typing(self, conversation: ConversationReference) -> None:
        """Show "typing…" where the channel can; never fails the answer it decorates."""
        channel = self.channels.get(conversation.channel)
        if channel is None or not channel.capabilities.typing:
            return
        try:
            await channel.indicate_typing(conversation)
        except Exception as exc:  # a cosmetic call: it must never cost the answer
            log.debug("typing indicator on %s failed: %s", conversation.channel, exc)

"""Who a creator may enrol in a program, and on which channel.

A creator's programs go only to people who have talked to that creator's twin (or joined it with its
link, which makes them its people): enrolment never creates a channel account and never reaches
another creator's people or a chat that never wrote — otherwise a creator's key could make the bot
message anyone. And a program's messages can go only to a channel this instance runs; on any other
they would wait forever, so such an enrolment is refused with the settings it lacks.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.foundation.tables import ChannelAccount, Conversation, User
from channels.registry import missing_settings


class EnrollmentError(ValueError):
    """An enrolment that cannot be made; the message says why."""


class EnrollmentRefusedError(EnrollmentError):
    """The person or the channel is not one this creator may send a program to; the message says why."""


async def enrollable_user(session: AsyncSession, creator_id: str, channel: str, external_id: str) -> User:
    """The person behind `channel:external_id`, if they have talked to this creator's twin.

    They have when their account belongs to the creator (they wrote to it, or joined with its link)
    or when they have a conversation with it. Unknown people and another creator's people get the
    same refusal, so that the answer tells nothing about who talks to whom.
    """
    found = (
        await session.execute(
            select(ChannelAccount, User)
            .join(User, User.id == ChannelAccount.user_id)
            .where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
        )
    ).first()
    if found is not None:
        _, user = found
        if user.creator_id == creator_id:
            return user
        talked = await session.scalar(
            select(Conversation.id)
            .where(Conversation.creator_id == creator_id, Conversation.user_id == user.id)
            .limit(1)
        )
        if talked is not None:
            return user
    raise EnrollmentRefusedError(
        f"{channel}:{external_id} has not talked to this creator's twin: people can be enrolled once "
        "they have written to it, or joined it with its link"
    )


def channel_refusal(channel: str, running: Collection[str]) -> str | None:
    """Why a program cannot be sent on `channel` here (None when it can): the settings it lacks."""
    if channel in running:
        return None
    missing = missing_settings(channel)
    if missing:
        return f"the {channel} channel is not configured: set {', '.join(missing)} to send on it"
    return f"the {channel} channel is not running on this instance"

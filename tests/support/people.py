"""People as first contact records them, for tests that enrol someone without a conversation first."""

from __future__ import annotations

from bot.identity import resolve_sender
from bot.runtime import Coachline


async def known_person(
    service: Coachline, channel: str, external_id: str, *, creator_id: str | None = None
) -> None:
    """Record `channel:external_id` as someone who has written to the creator's twin (the default
    creator unless named), which is what a creator needs before enrolling them."""
    async with service.sessions.begin() as session:
        await resolve_sender(
            session,
            channel=channel,
            external_id=external_id,
            display_name=None,
            creator_hint=creator_id,
            admins=set(),
            now=service.now(),
        )

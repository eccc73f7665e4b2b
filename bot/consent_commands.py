"""Opting out and back in: /optout and /optin, which SMS STOP and START turn into.

An opted-out account gets nothing more — no reply, program step or broadcast — because the outbox
checks `ChannelAccount.opted_out_at` before every send. Both commands are hidden from /help: on SMS
people use the keywords, which carriers and Twilio announce.
"""

from __future__ import annotations

from bot.command_forms import opted_in_text
from bot.commands import CommandContext, CommandRegistry, Reply
from bot.roles import EVERYONE


def register_consent_commands(registry: CommandRegistry) -> None:
    """Add /optout and /optin (hidden)."""
    registry.command("optout", "stop all messages from me", EVERYONE, hidden=True)(opt_out)
    registry.command("optin", "receive messages from me again", EVERYONE, hidden=True)(opt_in)


async def opt_out(ctx: CommandContext) -> list[Reply]:
    """Mark the sender's account opted out. No reply: it could not be sent (and Twilio confirms STOP)."""
    account = ctx.sender.account
    if account.opted_out_at is None:
        account.opted_out_at = ctx.now
    ctx.db.add(account)  # committed with the answer, in the answering transaction
    return []


async def opt_in(ctx: CommandContext) -> list[Reply]:
    """Clear the sender's opt-out and confirm."""
    account = ctx.sender.account
    account.opted_out_at = None
    ctx.db.add(account)
    return [Reply(opted_in_text(ctx.message.channel))]

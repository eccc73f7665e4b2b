"""Opting out and back in: /optout and /optin, which SMS STOP and START turn into.

An opted-out account gets nothing more — no reply, program step or broadcast — because the outbox
checks `ChannelAccount.opted_out_at` before every send. Both commands are hidden from /help: on SMS
people use the keywords, which carriers and Twilio announce.
"""

from __future__ import annotations

from bot.commands import CommandContext, CommandRegistry, Reply
from bot.roles import EVERYONE

OPTED_IN_SMS = "You're subscribed again. Reply HELP for help, STOP to opt out."
OPTED_IN = "You're subscribed again. Send /optout to stop all messages from me."


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
    return [Reply(OPTED_IN_SMS if ctx.message.channel == "sms" else OPTED_IN)]

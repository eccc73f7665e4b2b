"""The commands every person has: /start, /help and /reset."""

from __future__ import annotations

from bot.commands import CommandContext, CommandRegistry, Reply, help_text
from bot.foundation.tables import Creator
from bot.memory import forget
from bot.roles import EVERYONE


def register_basic_commands(registry: CommandRegistry) -> None:
    """Add /start, /help and /reset."""
    registry.command("start", "say hello and see what I can do", EVERYONE)(start)
    registry.command("help", "list the commands you can use", EVERYONE)(show_help)
    registry.command("reset", "forget our conversation so far", EVERYONE)(reset)


async def start(ctx: CommandContext) -> list[Reply]:
    """Greet the person and point at /help.

    `/start <creator id>` — what a Telegram deep link (`t.me/<bot>?start=<creator id>`) sends —
    moves the person to that creator's twin, so one bot can serve several creators.
    """
    creator = ctx.sender.creator
    payload = ctx.args.strip()
    if payload and payload != creator.id:
        chosen = await ctx.db.get(Creator, payload)
        if chosen is not None:
            ctx.sender.user.creator_id = chosen.id
            ctx.db.add(ctx.sender.user)
            creator = chosen
    name = ctx.sender.user.display_name
    greeting = f"Hi {name}!" if name else "Hi!"
    return [
        Reply(
            f"{greeting} I'm the AI twin of {creator.name}. Ask me anything about {creator.name}'s coaching "
            f"and materials, or type {ctx.form('help')} to see what I can do."
        )
    ]


async def show_help(ctx: CommandContext) -> list[Reply]:
    """List the commands this person may use, as they are typed on their channel."""
    return [Reply(help_text(ctx.registry, ctx.sender.roles, ctx.channel))]


async def reset(ctx: CommandContext) -> list[Reply]:
    """Forget the conversation memory (the transcript is kept)."""
    await forget(ctx.db, ctx.conversation)
    return [Reply("Done — I've forgotten our conversation so far. What would you like to talk about?")]

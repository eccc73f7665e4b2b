"""Everyone's commands for programs and settings: /programs, /join, /leave, /stop, /resume, /timezone.

/stop pauses a person's programs; it is not the SMS opt-out (STOP → /optout), which silences every
message. A pause is a `stopped` enrolment whose newest `stopped` event says `{"by": "/stop"}`, so
that /resume brings back exactly what /stop paused and not a program someone left or was taken out of.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import CommandContext, CommandError, CommandRegistry, Reply
from bot.creator_commands import creator_programs
from bot.lookups import find_program
from bot.roles import CREATORS, EVERYONE
from programs.models import Enrollment, Program, ProgramEvent
from programs.runner import EnrollmentError

PAUSED_BY = "/stop"


def register_user_commands(registry: CommandRegistry) -> None:
    """Add /programs, /join, /leave, /stop, /resume and /timezone."""
    registry.command("programs", "the programs you can join, and yours", EVERYONE)(programs)
    # slow: enrolling runs the program's first step (the runner opens its own sessions).
    registry.command("join", "join a program", EVERYONE, "NAME", slow=True)(join)
    registry.command("leave", "leave a program", EVERYONE, "[NAME]")(leave)
    registry.command("stop", "pause all your programs", EVERYONE)(stop)
    registry.command("resume", "resume the programs you paused", EVERYONE)(resume)
    registry.command("timezone", "set your time zone for program messages", EVERYONE, "ZONE")(timezone)


async def programs(ctx: CommandContext) -> list[Reply]:
    """Creators see their programs with enrolment counts; everyone else what they can join."""
    if ctx.sender.has_any(CREATORS):
        return await creator_programs(ctx)
    available = list(
        await ctx.db.scalars(
            select(Program)
            .where(Program.creator_id == ctx.sender.creator.id, Program.status == "active")
            .order_by(Program.title)
        )
    )
    mine = await _enrollments(ctx.db, ctx.sender.user.id)
    paused = await _paused(ctx.db, mine)
    latest: dict[str, Enrollment] = {}
    for row in mine:  # oldest first: the newest enrolment in each program wins
        latest[row.program_id] = row
    if not available and not latest:
        return [Reply("There are no programs to join yet.")]
    lines = ["Programs you can join:" if available else "No programs are open to join right now."]
    for program in available:
        about = f" — {program.description}" if program.description else ""
        lines.append(f"• {program.title}{about}{_your_state(ctx, latest.get(program.id), paused)}")
    lines.append(f"Join one with {ctx.form('join NAME')}; leave with {ctx.form('leave NAME')}.")
    return [Reply("\n".join(lines))]


def _your_state(ctx: CommandContext, row: Enrollment | None, paused: set[int]) -> str:
    if row is None:
        return ""
    if row.status == "active":
        return " (you're in it)"
    if row.id in paused:
        return f" (paused — {ctx.form('resume')} to continue)"
    if row.status == "completed":
        return " (completed)"
    return ""


async def join(ctx: CommandContext) -> list[Reply]:
    """Enrol the sender in one of their creator's active programs; the first step follows."""
    if not ctx.args:
        raise CommandError(f"Which program? {ctx.form('programs')} lists them; then {ctx.form('join NAME')}.")
    async with ctx.services.sessions.begin() as session:
        program = await find_program(session, ctx.sender.creator.id, ctx.args, statuses=("active",))
        rows = [
            row for row in await _enrollments(session, ctx.sender.user.id) if row.program_id == program.id
        ]
        if any(row.status == "active" for row in rows):
            return [Reply(f"You're already in {program.title}.")]
        paused = await _paused(session, rows)
        if paused:
            row = next(row for row in reversed(rows) if row.id in paused)
            _reactivate(session, row, ctx.now)
            return [Reply(f"Welcome back to {program.title} — we'll pick up where you left off.")]
    try:
        await ctx.services.programs.enroll(
            program.id,
            ctx.channel,
            ctx.sender.account.external_id,
            display_name=ctx.sender.user.display_name,
        )
    except EnrollmentError as problem:
        raise CommandError(f"I couldn't enrol you in {program.title}: {problem}") from None
    return [
        Reply(
            f"You've joined {program.title}. Its messages come here; {ctx.form('stop')} pauses them, "
            f"{ctx.form('leave ' + program.title)} ends it."
        )
    ]


async def leave(ctx: CommandContext) -> list[Reply]:
    """Stop one enrolment: the program named, or the only one the sender is in."""
    rows = await _enrollments(ctx.db, ctx.sender.user.id)
    paused = await _paused(ctx.db, rows)
    current = [row for row in rows if row.status == "active" or row.id in paused]
    if ctx.args:
        program = await find_program(ctx.db, ctx.sender.creator.id, ctx.args)
        current = [row for row in current if row.program_id == program.id]
        if not current:
            raise CommandError(f"You're not in {program.title}.")
    if not current:
        raise CommandError("You're not in any program.")
    titles = await _titles(ctx.db, current)
    if len({row.program_id for row in current}) > 1:
        names = ", ".join(sorted(set(titles.values())))
        raise CommandError(f"You're in {names}. Which one? {ctx.form('leave NAME')}")
    for row in current:
        _stop(ctx.db, row, ctx.now, "/leave")
    return [Reply(f"You've left {titles[current[0].program_id]}. You won't get its messages any more.")]


async def stop(ctx: CommandContext) -> list[Reply]:
    """Pause every program the sender is in (not the SMS opt-out: chat goes on)."""
    active = [row for row in await _enrollments(ctx.db, ctx.sender.user.id) if row.status == "active"]
    if not active:
        return [Reply("You're not in any program right now, so there is nothing to pause.")]
    titles = await _titles(ctx.db, active)
    for row in active:
        _stop(ctx.db, row, ctx.now, PAUSED_BY)
    names = ", ".join(sorted(set(titles.values())))
    return [
        Reply(
            f"Paused: {names}. No program messages until you send {ctx.form('resume')}. "
            "You can still chat with me."
        )
    ]


async def resume(ctx: CommandContext) -> list[Reply]:
    """Bring back the programs /stop paused; the next step comes when it is due."""
    rows = await _enrollments(ctx.db, ctx.sender.user.id)
    paused = await _paused(ctx.db, rows)
    running = {row.program_id for row in rows if row.status == "active"}
    # A program joined again since the pause already runs: its old enrolment stays stopped.
    back = [row for row in rows if row.id in paused and row.program_id not in running]
    if not back:
        return [Reply(f"Nothing is paused. {ctx.form('programs')} shows your programs.")]
    titles = await _titles(ctx.db, back)
    for row in back:
        _reactivate(ctx.db, row, ctx.now)
    names = ", ".join(sorted(set(titles.values())))
    return [Reply(f"Resumed: {names}. The next message comes when it is due.")]


async def timezone(ctx: CommandContext) -> list[Reply]:
    """Show or set the sender's time zone (programs send "daily at 08:00" in it)."""
    user = ctx.sender.user
    if not ctx.args:
        current = user.timezone or "UTC (not set)"
        return [Reply(f"Your time zone is {current}. Change it with {ctx.form('timezone Europe/Paris')}.")]
    name = zone_name(ctx.args)
    if name is None:
        hint = _suggestion(ctx.args)
        raise CommandError(
            f"Unknown time zone '{ctx.args}' — use a name like Europe/Paris" + (f" ({hint}?)" if hint else "")
        )
    user.timezone = name
    ctx.db.add(user)
    local = ctx.now.astimezone(zoneinfo.ZoneInfo(name))
    return [Reply(f"Your time zone is now {name} (it's {local:%H:%M} there). Program messages follow it.")]


def zone_name(text: str) -> str | None:
    """The IANA name of a time zone typed in any case ("europe/paris" → "Europe/Paris"), or None."""
    typed = text.strip().replace(" ", "_")
    known = _zones()
    if typed.lower() in known:
        return known[typed.lower()]
    try:  # a system without the zone list still knows the zones themselves
        zoneinfo.ZoneInfo(typed)
    except (ValueError, OSError, zoneinfo.ZoneInfoNotFoundError):
        return None
    return typed


def _suggestion(text: str) -> str | None:
    city = text.strip().replace(" ", "_").lower()
    matches = sorted(name for name in _zones().values() if name.lower().rsplit("/", 1)[-1] == city)
    return f"did you mean {matches[0]}" if len(matches) == 1 else None


@functools.cache
def _zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


async def _enrollments(session: AsyncSession, user_id: int) -> list[Enrollment]:
    """A person's enrolments, oldest first."""
    return list(
        await session.scalars(
            select(Enrollment)
            .where(Enrollment.user_id == user_id)
            .order_by(Enrollment.enrolled_at, Enrollment.id)
        )
    )


async def _paused(session: AsyncSession, rows: Sequence[Enrollment]) -> set[int]:
    """The stopped enrolments among `rows` whose newest stop was /stop."""
    stopped = [row.id for row in rows if row.status == "stopped"]
    if not stopped:
        return set()
    events = await session.scalars(
        select(ProgramEvent)
        .where(ProgramEvent.enrollment_id.in_(stopped), ProgramEvent.kind == "stopped")
        .order_by(ProgramEvent.at, ProgramEvent.id)
    )
    newest = {event.enrollment_id: event for event in events}
    return {row_id for row_id, event in newest.items() if event.data.get("by") == PAUSED_BY}


async def _titles(session: AsyncSession, rows: Sequence[Enrollment]) -> dict[str, str]:
    ids = {row.program_id for row in rows}
    found = await session.execute(select(Program.id, Program.title).where(Program.id.in_(ids)))
    return {program_id: title for program_id, title in found.all()}


def _stop(session: AsyncSession, row: Enrollment, now: datetime, by: str) -> None:
    # `updated_at` is the runner's version: a step being prepared for this enrolment now is dropped.
    row.status, row.due_at, row.updated_at = "stopped", None, now
    session.add(
        ProgramEvent(program_id=row.program_id, enrollment_id=row.id, kind="stopped", data={"by": by}, at=now)
    )


def _reactivate(session: AsyncSession, row: Enrollment, now: datetime) -> None:
    # Due now: the runner's next tick works out what comes next from the program's own timing.
    row.status, row.due_at, row.updated_at = "active", now, now
    session.add(ProgramEvent(program_id=row.program_id, enrollment_id=row.id, kind="resumed", at=now))

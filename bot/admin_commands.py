"""The admins' commands: /stats, /broadcast, /enroll, /users, /analytics, /grant and /revoke.

An admin acts for the creator they talk to (their own twin): /broadcast, /enroll, /users and
/analytics concern that creator's people and programs; /stats covers the whole deployment.
"""

from __future__ import annotations

import asyncio
import shlex
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import CommandContext, CommandError, CommandRegistry, Reply
from bot.foundation.tables import ChannelAccount, OutboxMessage, User
from bot.lookups import accounts_of, describe_person, find_person, find_program, like_pattern
from bot.models import InboxMessage, PendingAction, RoleGrant
from bot.roles import ADMINS, Role
from programs.analytics import program_analytics
from programs.broadcasts import MAX_TEXT, Audience, BroadcastError
from programs.models import Broadcast, Enrollment, Program, UserTag
from programs.runner import EnrollmentError

CONFIRM_WITHIN = timedelta(minutes=10)
# How long /broadcast confirm follows the delivery before handing over to /broadcast status.
FOLLOW_SECONDS = 20.0
FOLLOW_POLL_SECONDS = 0.2
USERS_SHOWN = 20
GRANTABLE = {"creator": Role.CREATOR, "admin": Role.ADMIN}


def register_admin_commands(registry: CommandRegistry) -> None:
    """Add /stats, /broadcast, /enroll, /users, /analytics, /grant and /revoke."""
    # slow: health checks and the broadcaster use their own connections.
    registry.command("stats", "people, messages, enrolments, failures and health", ADMINS, slow=True)(stats)
    registry.command(
        "broadcast",
        "message everyone (then confirm; status: progress)",
        ADMINS,
        "TEXT|confirm|cancel|status",
        slow=True,
    )(broadcast)
    registry.command("enroll", "enrol someone in a program", ADMINS, "USER PROGRAM", slow=True)(enroll)
    registry.command("users", "find people: channels, tags, programs", ADMINS, "[search]")(users)
    registry.command("analytics", "a program's figures", ADMINS, "PROGRAM")(analytics)
    registry.command("grant", "give someone a role", ADMINS, "creator|admin USER")(grant)
    registry.command("revoke", "take a role away", ADMINS, "creator|admin USER")(revoke)


# --- /stats -----------------------------------------------------------------------------------------


async def stats(ctx: CommandContext) -> list[Reply]:
    """Figures for the whole deployment, read from the database, and every component's health."""
    day, week = ctx.now - timedelta(days=1), ctx.now - timedelta(days=7)
    async with ctx.services.sessions() as session:
        per_channel = dict(
            (
                await session.execute(
                    select(ChannelAccount.channel, func.count()).group_by(ChannelAccount.channel)
                )
            ).all()
        )
        people = await session.scalar(select(func.count()).select_from(User))
        received = [
            await _count(session, InboxMessage, InboxMessage.received_at >= since) for since in (day, week)
        ]
        sent = [
            await _count(
                session, OutboxMessage, OutboxMessage.status == "sent", OutboxMessage.sent_at >= since
            )
            for since in (day, week)
        ]
        enrolments = await _count(session, Enrollment, Enrollment.status == "active")
        failures = dict(
            (
                await session.execute(
                    select(OutboxMessage.channel, func.count())
                    .where(OutboxMessage.status == "failed", OutboxMessage.created_at >= week)
                    .group_by(OutboxMessage.channel)
                )
            ).all()
        )
    health = await ctx.services.health()
    channels = ", ".join(f"{name} {count}" for name, count in sorted(per_channel.items())) or "none yet"
    failed = sum(failures.values())
    lines = [
        f"People: {people or 0} ({channels})",
        f"Messages in: {received[0]} in 24 h, {received[1]} in 7 days",
        f"Messages sent: {sent[0]} in 24 h, {sent[1]} in 7 days",
        f"Active enrolments: {enrolments}",
        f"Delivery failures in 7 days: {failed}"
        + (
            " (" + ", ".join(f"{name} {count}" for name, count in sorted(failures.items())) + ")"
            if failed
            else ""
        ),
        "Health:",
    ]
    for component, status in health.items():
        detail = str(status.get("detail") or "")
        shown = "" if status.get("state") == "real" else f" — {detail[:120]}"
        lines.append(f"• {component}: {status.get('state')}{shown}")
    return [Reply("\n".join(lines))]


async def _count(session: AsyncSession, table: Any, *conditions: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)


# --- /broadcast -------------------------------------------------------------------------------------


async def broadcast(ctx: CommandContext) -> list[Reply]:
    """`/broadcast TEXT` asks for confirmation; `confirm` sends, `cancel` drops it, `status` reports."""
    option = ctx.args.strip().lower()
    if not option:
        raise CommandError(
            f"Usage: {ctx.form('broadcast TEXT')}, then {ctx.form('broadcast confirm')}. "
            f"{ctx.form('broadcast status')} shows how the last one went."
        )
    if option == "confirm":
        return await _confirm(ctx)
    if option == "cancel":
        return await _cancel(ctx)
    if option == "status":
        return await _status(ctx)
    return await _prepare(ctx)


async def _prepare(ctx: CommandContext) -> list[Reply]:
    text = ctx.args.strip()
    if len(text) > MAX_TEXT:
        raise CommandError(
            f"That message is {len(text):,} characters; a broadcast holds {MAX_TEXT:,} at most."
        )
    channels = ctx.services.messaging_channels()
    if not channels:
        raise CommandError(
            "No messaging channel is switched on (see config/.env.example), so a broadcast would reach no one."
        )
    async with ctx.services.sessions.begin() as session:
        reach = await _reach(session, ctx.sender.creator.id, channels)
        people = sum(reach.values())
        if not people:
            raise CommandError(f"Nobody can be reached on {', '.join(channels)} yet.")
        await session.execute(
            delete(PendingAction).where(
                PendingAction.conversation_id == ctx.conversation.id, PendingAction.action == "broadcast"
            )
        )
        session.add(
            PendingAction(
                conversation_id=ctx.conversation.id,
                action="broadcast",
                # The token names the broadcast this confirmation makes, so a rerun finds it.
                data={"text": text, "token": uuid.uuid4().hex, "people": people},
                created_at=ctx.now,
                expires_at=ctx.now + CONFIRM_WITHIN,
            )
        )
    where = ", ".join(f"{channel} {count}" for channel, count in sorted(reach.items()) if count)
    minutes = int(CONFIRM_WITHIN.total_seconds() // 60)
    ctx.audit.detail = {"stage": "prepared", "people": people}
    ctx.audit.args = text[:200]
    return [
        Reply(
            f"This will send to {people} people ({where}):\n\n{text}\n\n"
            f"Reply {ctx.form('broadcast confirm')} within {minutes} minutes to send, "
            f"or {ctx.form('broadcast cancel')}."
        )
    ]


async def _reach(session: AsyncSession, creator_id: str, channels: list[str]) -> Counter[str]:
    """The creator's people a broadcast reaches now, per channel (opted-out and blocked ones left out)."""
    rows = await session.execute(
        select(ChannelAccount.channel, func.count())
        .join(User, User.id == ChannelAccount.user_id)
        .where(
            User.creator_id == creator_id,
            ChannelAccount.channel.in_(channels),
            ChannelAccount.opted_out_at.is_(None),
            ChannelAccount.reachable.is_(True),
        )
        .group_by(ChannelAccount.channel)
    )
    return Counter({channel: count for channel, count in rows.all()})


async def _pending(session: AsyncSession, ctx: CommandContext) -> PendingAction | None:
    return await session.scalar(
        select(PendingAction).where(
            PendingAction.conversation_id == ctx.conversation.id, PendingAction.action == "broadcast"
        )
    )


async def _confirm(ctx: CommandContext) -> list[Reply]:
    """Send the waiting broadcast once: a repeated confirmation (or a rerun after a crash) reports
    on the broadcast already made instead of making another."""
    async with ctx.services.sessions.begin() as session:
        pending = await _pending(session, ctx)
        expired = pending is not None and "broadcast_id" not in pending.data and pending.expires_at < ctx.now
        if expired:
            await session.delete(pending)
    if pending is None or expired:
        why = (
            "That broadcast waited too long and was dropped"
            if expired
            else "There is no broadcast to confirm"
        )
        raise CommandError(f"{why}. Start again with {ctx.form('broadcast TEXT')}.")
    ctx.audit.args = str(pending.data["text"])[:200]
    if "broadcast_id" in pending.data:
        ctx.audit.target = f"broadcast {pending.data['broadcast_id']}"
        ctx.audit.detail = {"stage": "confirmed again"}
        report = await ctx.services.broadcasts.report(str(pending.data["broadcast_id"]))
        assert report is not None
        return [
            Reply("Already sent, not sent again. " + describe_report(report, ctx.form("broadcast status")))
        ]
    # The token names what this confirmation makes: a rerun between making it and noting it finds it.
    made_by = f"{ctx.channel}:{ctx.message.user_id} via chat ({pending.data['token']})"
    channels = ctx.services.messaging_channels()
    async with ctx.services.sessions() as session:
        existing = await session.scalar(select(Broadcast).where(Broadcast.created_by == made_by))
    try:
        made = existing or await ctx.services.broadcasts.create(
            ctx.sender.creator.id, str(pending.data["text"]), Audience(), channels, created_by=made_by
        )
    except BroadcastError as problem:
        raise CommandError(f"The broadcast could not be made: {problem}") from None
    async with ctx.services.sessions.begin() as session:
        await session.execute(
            update(PendingAction)
            .where(PendingAction.id == pending.id)
            .values(data={**pending.data, "broadcast_id": made.id})
        )
    ctx.audit.target = f"broadcast {made.id}"
    ctx.audit.detail = {"stage": "sent", "recipients": made.recipients, "channels": channels}
    await ctx.progress(f"Queued for {made.recipients} people on {', '.join(channels)}. Sending…")
    report = await _follow(ctx, made.id)
    return [Reply(describe_report(report, ctx.form("broadcast status")))]


async def _follow(ctx: CommandContext, broadcast_id: str) -> dict[str, Any]:
    """The report once everything is sent, or as it stands after `FOLLOW_SECONDS`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FOLLOW_SECONDS
    while True:
        report = await ctx.services.broadcasts.report(broadcast_id)
        assert report is not None
        if report["queued"] == 0 or loop.time() >= deadline:
            return report
        await asyncio.sleep(FOLLOW_POLL_SECONDS)


async def _cancel(ctx: CommandContext) -> list[Reply]:
    async with ctx.services.sessions.begin() as session:
        pending = await _pending(session, ctx)
        if pending is None or "broadcast_id" in pending.data:
            raise CommandError("There is no broadcast waiting to be confirmed.")
        await session.delete(pending)
    ctx.audit.detail = {"stage": "cancelled"}
    return [Reply("Cancelled: nothing was sent.")]


async def _status(ctx: CommandContext) -> list[Reply]:
    async with ctx.services.sessions() as session:
        latest = await session.scalar(
            select(Broadcast.id)
            .where(Broadcast.creator_id == ctx.sender.creator.id)
            .order_by(Broadcast.created_at.desc())
            .limit(1)
        )
    if latest is None:
        return [Reply("No broadcast has been sent yet.")]
    report = await ctx.services.broadcasts.report(latest)
    assert report is not None
    return [Reply(describe_report(report, ctx.form("broadcast status")))]


def describe_report(report: dict[str, Any], status_form: str) -> str:
    """A broadcast's report in one paragraph: where it stands and what came of each message."""
    preview = report["text"] if len(report["text"]) <= 60 else report["text"][:57] + "…"
    counts = (
        f"{report['sent']} sent, {report['failed']} failed, {report['opted_out']} opted out, "
        f"{report['blocked']} blocked, {report['queued']} queued (of {report['recipients']})"
    )
    if report.get("maybe_sent_twice"):
        counts += (
            f"; {report['maybe_sent_twice']} of those sent may have arrived twice (a restart cut off a send)"
        )
    if report["status"] == "done":
        return f'Broadcast "{preview}" is done: {counts}.'
    return f'Broadcast "{preview}" is still sending: {counts}. {status_form} shows the rest.'


# --- /enroll, /users, /analytics ---------------------------------------------------------------------


async def enroll(ctx: CommandContext) -> list[Reply]:
    """Enrol a person (channel:id, #id or a name) in one of the creator's programs."""
    try:
        words = shlex.split(ctx.args)
    except ValueError:
        words = ctx.args.split()
    if len(words) < 2:
        raise CommandError(
            f"Usage: {ctx.form('enroll USER PROGRAM')} — USER is channel:id as /users shows it, #id or a name; "
            'put quotes around names with spaces ("Sam Lee").'
        )
    term, program_name = words[0], " ".join(words[1:])
    creator_id = ctx.sender.creator.id
    async with ctx.services.sessions() as session:
        user = await find_person(session, creator_id, term)
        program = await find_program(session, creator_id, program_name)
        accounts = (await accounts_of(session, [user.id])).get(user.id, [])
        already = await session.scalar(
            select(Enrollment.id).where(
                Enrollment.program_id == program.id,
                Enrollment.user_id == user.id,
                Enrollment.status == "active",
            )
        )
    who = describe_person(user, [])
    if already is not None:
        return [Reply(f"{who} is already in {program.title}.")]
    account = _reachable_account(accounts, term, ctx.services.messaging_channels())
    if account is None:
        raise CommandError(f"{who} has no channel account to send the program to.")
    try:
        await ctx.services.programs.enroll(program.id, account.channel, account.external_id)
    except EnrollmentError as problem:
        raise CommandError(f"I couldn't enrol {who}: {problem}") from None
    ctx.audit.target = f"user #{user.id}"
    ctx.audit.detail = {"program_id": program.id, "program": program.title, "channel": account.channel}
    return [
        Reply(
            f"Enrolled {who} in {program.title}; its messages go to {account.channel}:{account.external_id}."
        )
    ]


def _reachable_account(
    accounts: list[ChannelAccount], term: str, messaging: list[str]
) -> ChannelAccount | None:
    """The account named in `term` (channel:id), else the first on a messaging channel, else any."""
    named = [account for account in accounts if f"{account.channel}:{account.external_id}" == term]
    messaging_accounts = [account for account in accounts if account.channel in messaging]
    for choice in (named, messaging_accounts, accounts):
        if choice:
            return choice[0]
    return None


async def users(ctx: CommandContext) -> list[Reply]:
    """Up to 20 of the creator's people (matching the search), with channels, roles, tags and programs."""
    creator_id = ctx.sender.creator.id
    search = ctx.args.strip()
    query = select(User).where(User.creator_id == creator_id)
    if search:
        pattern = like_pattern(search)
        query = query.where(
            func.lower(User.display_name).like(pattern, escape="\\")
            | User.id.in_(
                select(ChannelAccount.user_id).where(
                    func.lower(ChannelAccount.external_id).like(pattern, escape="\\")
                )
            )
        )
    total = await ctx.db.scalar(select(func.count()).select_from(query.subquery()))
    people = list(await ctx.db.scalars(query.order_by(User.id).limit(USERS_SHOWN)))
    if not people:
        return [Reply(f"No one matches {search!r}." if search else "No one has written yet.")]
    ids = [user.id for user in people]
    accounts = await accounts_of(ctx.db, ids)
    tags: dict[int, list[str]] = {}
    for user_id, tag in (
        await ctx.db.execute(select(UserTag.user_id, UserTag.tag).where(UserTag.user_id.in_(ids)))
    ).all():
        tags.setdefault(user_id, []).append(tag)
    roles: dict[int, set[str]] = {}
    grants = await ctx.db.execute(
        select(RoleGrant.user_id, RoleGrant.role, RoleGrant.creator_id).where(RoleGrant.user_id.in_(ids))
    )
    for user_id, role, grant_creator in grants.all():
        if role == Role.ADMIN or grant_creator == creator_id:
            roles.setdefault(user_id, set()).add(role)
    programs: dict[int, list[str]] = {}
    enrolled = await ctx.db.execute(
        select(Enrollment.user_id, Enrollment.status, Enrollment.program_id).where(
            Enrollment.user_id.in_(ids)
        )
    )
    titles = await _program_titles(ctx.db, creator_id)
    for user_id, status, program_id in enrolled.all():
        programs.setdefault(user_id, []).append(f"{titles.get(program_id, program_id)} ({status})")
    heading = f"{total} people" + (f" matching {search!r}" if search else "")
    lines = [heading + (f", the first {USERS_SHOWN}:" if (total or 0) > USERS_SHOWN else ":")]
    for user in people:
        extras = []
        if roles.get(user.id):
            extras.append("role: " + ", ".join(sorted(roles[user.id])))
        if tags.get(user.id):
            extras.append("tags: " + ", ".join(sorted(tags[user.id])))
        if programs.get(user.id):
            extras.append("programs: " + ", ".join(programs[user.id]))
        line = "• " + describe_person(user, accounts.get(user.id, []))
        lines.append(line + (" — " + "; ".join(extras) if extras else ""))
    return [Reply("\n".join(lines))]


async def _program_titles(session: AsyncSession, creator_id: str) -> dict[str, str]:
    rows = await session.execute(select(Program.id, Program.title).where(Program.creator_id == creator_id))
    return {program_id: title for program_id, title in rows.all()}


async def analytics(ctx: CommandContext) -> list[Reply]:
    """A program's analytics over 30 days, as text (every figure is defined in `programs.analytics`)."""
    program = await find_program(ctx.db, ctx.sender.creator.id, ctx.args)
    figures = await program_analytics(ctx.db, program.id, ctx.now, time_range_days=30)
    ctx.audit.target = f"program {program.title}"
    return [Reply(describe_analytics(program.title, figures))]


def describe_analytics(title: str, figures: dict[str, Any]) -> str:
    """Analytics in a few lines; a figure without data says so rather than showing 0."""

    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    def score(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        f"{title}, last {figures['time_range_days']} days:",
        f"Enrolled {figures['enrollments']}, active {figures['active_enrollments']}, "
        f"completed {figures['completed_enrollments']} ({share(figures['completion_rate'])} completion)",
        "Per step (deliveries, engagement, drop-off):",
    ]
    lines += [
        f"• {step['step_name']}: {step['deliveries']}, {share(step['engagement_rate'])}, {step['drop_off']}"
        for step in figures["steps"]
    ]
    lines.append(
        f"Knowledge used: {share(figures['knowledge_utilisation'])}, relevance {score(figures['average_relevance'])}; "
        f"voice consistency {score(figures['personality_consistency'])}"
    )
    topics = ", ".join(topic["topic"] for topic in figures["top_topics"][:5])
    if topics:
        lines.append(f"Top topics: {topics}")
    return "\n".join(lines)


# --- /grant, /revoke ---------------------------------------------------------------------------------


def _role_and_person(ctx: CommandContext, verb: str) -> tuple[Role, str]:
    role_word, _, term = ctx.args.strip().partition(" ")
    role = GRANTABLE.get(role_word.lower())
    if role is None or not term.strip():
        raise CommandError(
            f"Usage: {ctx.form(verb + ' creator USER')} or {ctx.form(verb + ' admin USER')} — "
            "USER is channel:id as /users shows it, #id or a name."
        )
    return role, term.strip()


async def grant(ctx: CommandContext) -> list[Reply]:
    """Make someone a creator of this twin, or an admin of the deployment."""
    role, term = _role_and_person(ctx, "grant")
    creator = ctx.sender.creator
    user = await find_person(ctx.db, creator.id, term)
    scope = creator.id if role == Role.CREATOR else None
    who = describe_person(user, [])
    ctx.audit.target = f"user #{user.id}"
    ctx.audit.detail = {"role": role.value}
    if await _grants(ctx.db, user.id, role, scope):
        return [Reply(f"{who} is already {_role_words(role, creator.name)}.")]
    ctx.db.add(
        RoleGrant(
            user_id=user.id,
            role=role,
            creator_id=scope,
            granted_by=f"{ctx.channel}:{ctx.message.user_id}",
            created_at=ctx.now,
        )
    )
    return [Reply(f"{who} is now {_role_words(role, creator.name)}.")]


async def revoke(ctx: CommandContext) -> list[Reply]:
    """Take a granted role away (an admin listed in COACH_ADMINS stays one)."""
    role, term = _role_and_person(ctx, "revoke")
    creator = ctx.sender.creator
    user = await find_person(ctx.db, creator.id, term)
    who = describe_person(user, [])
    held = await _grants(ctx.db, user.id, role, creator.id if role == Role.CREATOR else None)
    if not held:
        raise CommandError(f"{who} holds no granted {role.value} role here.")
    for row in held:
        await ctx.db.delete(row)
    ctx.audit.target = f"user #{user.id}"
    ctx.audit.detail = {"role": role.value}
    note = " (an admin listed in COACH_ADMINS stays one)" if role == Role.ADMIN else ""
    return [Reply(f"{who} is no longer {_role_words(role, creator.name)}{note}.")]


async def _grants(session: AsyncSession, user_id: int, role: Role, creator_id: str | None) -> list[RoleGrant]:
    query = select(RoleGrant).where(RoleGrant.user_id == user_id, RoleGrant.role == role)
    if role == Role.CREATOR:
        query = query.where(RoleGrant.creator_id == creator_id)
    return list(await session.scalars(query))


def _role_words(role: Role, creator_name: str) -> str:
    return f"a creator of {creator_name}'s twin" if role == Role.CREATOR else "an admin"

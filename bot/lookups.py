"""Names typed in chat commands, resolved to rows: people (`telegram:42`, `#12`, "alice") and
programs (a title, any case, or an id). A name that matches nothing, or more than one thing, is a
`CommandError` that says which, so the person can be more precise."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import CommandError
from bot.foundation.tables import ChannelAccount, User
from programs.models import Program

SHOWN_CANDIDATES = 5


async def find_person(session: AsyncSession, creator_id: str, term: str) -> User:
    """One of the creator's people: `channel:id` (their account), `#12` (their user id), or a name
    or account id that only they match."""
    term = term.strip()
    if not term:
        raise CommandError("Name a person: channel:id or #id as the user list shows them, or a name.")
    if term.startswith("#") and term[1:].isdigit():
        user = await session.get(User, int(term[1:]))
        if user is None or user.creator_id != creator_id:
            raise CommandError(f"No user {term} here.")
        return user
    channel, colon, external_id = term.partition(":")
    if colon and channel.isalpha() and external_id:
        account = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == channel.lower(), ChannelAccount.external_id == external_id
            )
        )
        if account is None:
            raise CommandError(f"Nobody has written from {term} yet.")
        user = await session.get_one(User, account.user_id)
        if user.creator_id != creator_id:
            raise CommandError(f"{term} talks to another creator's twin.")
        return user
    pattern = like_pattern(term)
    matches = list(
        await session.scalars(
            select(User)
            .where(
                User.creator_id == creator_id,
                or_(
                    func.lower(User.display_name).like(pattern, escape="\\"),
                    User.id.in_(select(ChannelAccount.user_id).where(ChannelAccount.external_id == term)),
                ),
            )
            .order_by(User.id)
            .limit(SHOWN_CANDIDATES + 1)
        )
    )
    exact = [user for user in matches if (user.display_name or "").lower() == term.lower()]
    if len(exact) == 1:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CommandError(f"No one called {term!r} here.")
    accounts = await accounts_of(session, [user.id for user in matches])
    shown = "; ".join(describe_person(user, accounts.get(user.id, [])) for user in matches[:SHOWN_CANDIDATES])
    raise CommandError(f"More than one person matches {term!r}: {shown}. Use channel:id or #id.")


async def find_program(
    session: AsyncSession, creator_id: str, name: str, *, statuses: Collection[str] | None = None
) -> Program:
    """One of the creator's programs by id or title (any case; a unique part of a title will do)."""
    name = name.strip()
    query = select(Program).where(Program.creator_id == creator_id).order_by(Program.title)
    if statuses is not None:
        query = query.where(Program.status.in_(statuses))
    programs = list(await session.scalars(query))
    if not name:
        raise CommandError(f"Name a program: {_titles(programs)}.")
    wanted = name.lower()
    for matches in (
        [program for program in programs if program.id == name],
        [program for program in programs if program.title.lower() == wanted],
        [program for program in programs if wanted in program.title.lower()],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise CommandError(f"More than one program matches {name!r}: {_titles(matches)}.")
    raise CommandError(f"No program called {name!r}. Programs: {_titles(programs)}.")


async def accounts_of(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, list[ChannelAccount]]:
    """Each person's channel accounts, oldest first."""
    ids = list(user_ids)
    found: dict[int, list[ChannelAccount]] = {}
    if not ids:
        return found
    rows = await session.scalars(
        select(ChannelAccount).where(ChannelAccount.user_id.in_(ids)).order_by(ChannelAccount.id)
    )
    for account in rows:
        found.setdefault(account.user_id, []).append(account)
    return found


def describe_person(user: User, accounts: Iterable[ChannelAccount]) -> str:
    """A person as lists show them: `Bob #12 (telegram:43, sms:+15550000043)`."""
    where = ", ".join(f"{account.channel}:{account.external_id}" for account in accounts)
    name = user.display_name or "(no name)"
    return f"{name} #{user.id}" + (f" ({where})" if where else "")


def _titles(programs: Iterable[Program]) -> str:
    titles = [program.title for program in programs]
    return ", ".join(titles) if titles else "none yet"


def like_pattern(text: str) -> str:
    """A lower-case LIKE pattern matching `text` anywhere (its own % and _ taken literally; escape "\\")."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

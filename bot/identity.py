"""Identity: creators, users and their channel accounts, conversations, roles and API keys."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.claim_codes import DEFAULT_CODE_HOURS, claim_code_hash, new_claim_code
from bot.foundation.messages import ConversationReference
from bot.foundation.tables import ChannelAccount, Conversation, Creator, User
from bot.models import RoleGrant
from bot.roles import Role
from bot.secrets import hash_secret, new_api_key, same_secret
from channels.web import NAME as WEB


@dataclass(frozen=True, slots=True)
class NewCreator:
    """A creator just made, with the secrets that are shown only once."""

    creator: Creator
    api_key: str
    claim_code: str


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a message: the person, the account it came from, their creator and their roles."""

    user: User
    account: ChannelAccount
    creator: Creator
    roles: frozenset[Role]
    # Created by this transaction: nothing can refer to the person yet (no grant, no conversation, no
    # history), so the first message's look-ups for them are skipped.
    is_new: bool = False

    def has_any(self, allowed: frozenset[Role]) -> bool:
        """Whether the sender holds one of the allowed roles."""
        return bool(self.roles & allowed)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the REST API: the admin, or one creator."""

    is_admin: bool
    creator_id: str | None


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    return slug or "creator"


async def create_creator(
    session: AsyncSession,
    name: str,
    now: datetime,
    *,
    is_default: bool = False,
    claim_code_hours: float = DEFAULT_CODE_HOURS,
) -> NewCreator:
    """Add a creator with a fresh API key and claim code (returned in clear once, stored hashed);
    the code expires after `claim_code_hours` (`COACH_CLAIM_CODE_HOURS`)."""
    api_key = new_api_key("cr")
    claim_code = new_claim_code()
    creator = Creator(
        id=f"{_slug(name)}-{uuid.uuid4().hex[:8]}",
        name=name,
        api_key_hash=hash_secret(api_key),
        claim_code_hash=claim_code_hash(claim_code),
        claim_code_expires_at=now + timedelta(hours=claim_code_hours),
        is_default=is_default,
        created_at=now,
    )
    session.add(creator)
    await session.flush()
    return NewCreator(creator, api_key, claim_code)


async def default_creator(session: AsyncSession) -> Creator | None:
    """The creator meant when none is named."""
    result = await session.scalars(select(Creator).where(Creator.is_default).order_by(Creator.created_at))
    return result.first()


async def ensure_default_creator(
    session: AsyncSession, name: str, now: datetime, *, claim_code_hours: float = DEFAULT_CODE_HOURS
) -> Creator:
    """The default creator, created on first start so that a fresh install answers at once."""
    existing = await default_creator(session)
    if existing is not None:
        return existing
    made = await create_creator(session, name, now, is_default=True, claim_code_hours=claim_code_hours)
    return made.creator


async def list_creators(session: AsyncSession) -> list[Creator]:
    """Every creator, oldest first."""
    return list(await session.scalars(select(Creator).order_by(Creator.created_at, Creator.id)))


async def creator_for_api_key(session: AsyncSession, key: str) -> Creator | None:
    """The creator whose API key this is."""
    return await session.scalar(select(Creator).where(Creator.api_key_hash == hash_secret(key)))


async def authenticate(session: AsyncSession, key: str, admin_key: str) -> Principal | None:
    """Who holds this bearer key, if anyone."""
    if key and same_secret(key, admin_key):
        return Principal(is_admin=True, creator_id=None)
    creator = await creator_for_api_key(session, key) if key else None
    return Principal(is_admin=False, creator_id=creator.id) if creator else None


# A chat-API user reached with a creator's key is `<creator id>:<user id>` on the web channel, so
# that creator A's "boss" is neither the admin key's "boss" nor creator B's (creator ids have no ":").
SCOPE_SEPARATOR = ":"


def creator_scoped_id(creator_id: str, user_id: str) -> str:
    """The web-channel account a creator's key speaks as when it names `user_id`."""
    return f"{creator_id}{SCOPE_SEPARATOR}{user_id}"


async def creator_scope(session: AsyncSession, channel: str, external_id: str) -> Creator | None:
    """The creator whose key owns this web account (`<creator id>:<user id>`), or None."""
    prefix, separator, rest = external_id.partition(SCOPE_SEPARATOR)
    if channel != WEB or not separator or not rest:
        return None
    return await session.get(Creator, prefix)


async def resolve_sender(
    session: AsyncSession,
    *,
    channel: str,
    external_id: str,
    display_name: str | None,
    creator_hint: str | None,
    admins: set[tuple[str, str]],
    now: datetime,
) -> Sender:
    """Find or create the person behind a channel account, and work out their creator and roles.

    `creator_hint` (a deep link, the chat API's `creator_id`) moves the person to that creator. An
    account owned by a creator's key (`creator_scope`) always talks to that creator and is never an
    admin, whatever COACH_ADMINS or a grant says: only the admin key speaks as an admin.
    """
    scope = await creator_scope(session, channel, external_id)
    if scope is not None:
        creator_hint = scope.id
    found = (
        await session.execute(
            select(ChannelAccount, User)
            .join(User, User.id == ChannelAccount.user_id)
            .where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
        )
    ).first()
    hinted = await session.get(Creator, creator_hint) if creator_hint else None
    is_new, assigned = False, None
    if found is not None:
        account, user = found
    else:
        account, user, assigned, is_new = await _new_account(
            session, channel, external_id, display_name, hinted, now
        )
    if hinted is not None and user.creator_id != hinted.id:
        user.creator_id = hinted.id
    if display_name and user.display_name != display_name:
        user.display_name = display_name
    if not account.reachable:
        # Someone who blocked the bot and now writes to it has unblocked it. (Opting out is
        # different: only an explicit opt-in such as SMS START clears `opted_out_at`.)
        account.reachable = True
    at_hand: dict[str, Creator] = {known.id: known for known in (hinted, assigned) if known is not None}
    creator = at_hand.get(user.creator_id)
    if creator is None:
        creator = await session.get_one(Creator, user.creator_id)
    listed = scope is None and (channel, external_id) in admins
    if is_new:
        roles = frozenset({Role.USER, Role.ADMIN} if listed else {Role.USER})
    else:
        roles = await roles_of(session, user, creator, listed, may_be_admin=scope is None)
    return Sender(user=user, account=account, creator=creator, roles=roles, is_new=is_new)


async def _new_account(
    session: AsyncSession,
    channel: str,
    external_id: str,
    display_name: str | None,
    creator: Creator | None,
    now: datetime,
) -> tuple[ChannelAccount, User, Creator, bool]:
    """A first-time sender: a new user with this account, under the given or the default creator.

    Also the creator, and whether the user is this transaction's (False when another worker created
    the same account a moment ago, and theirs is used).
    """
    creator = creator or await default_creator(session)
    if creator is None:
        raise LookupError("no creator exists yet")
    user = User(display_name=display_name, creator_id=creator.id, created_at=now)
    session.add(user)
    await session.flush()
    account = ChannelAccount(user_id=user.id, channel=channel, external_id=external_id, created_at=now)
    try:
        async with session.begin_nested():
            session.add(account)
    except IntegrityError:
        # Another worker created the same account a moment ago: use theirs.
        await session.delete(user)
        theirs = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == channel, ChannelAccount.external_id == external_id
            )
        )
        assert theirs is not None
        return theirs, await session.get_one(User, theirs.user_id), creator, False
    return account, user, creator, True


async def roles_of(
    session: AsyncSession, user: User, creator: Creator, listed_admin: bool, *, may_be_admin: bool = True
) -> frozenset[Role]:
    """A user's roles with respect to their current creator (`may_be_admin=False` ignores admin grants)."""
    roles = {Role.USER}
    if listed_admin:
        roles.add(Role.ADMIN)
    grants = await session.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id))
    for grant in grants:
        if grant.role == Role.ADMIN:
            if may_be_admin:
                roles.add(Role.ADMIN)
        elif grant.role == Role.CREATOR and grant.creator_id == creator.id:
            roles.add(Role.CREATOR)
    return frozenset(roles)


async def conversation_for(
    session: AsyncSession, sender: Sender, reference: ConversationReference, now: datetime
) -> Conversation:
    """The conversation this message belongs to, created on first contact."""
    if sender.is_new:
        # The person's own conversation cannot exist yet, nor can anyone else make it meanwhile.
        first = _new_conversation(sender, reference, now)
        session.add(first)
        await session.flush()
        return first
    key = (
        Conversation.creator_id == sender.creator.id,
        Conversation.user_id == sender.user.id,
        Conversation.channel == reference.channel,
        Conversation.chat_id == reference.chat_id,
        Conversation.thread_id == (reference.thread_id or ""),
    )
    conversation = await session.scalar(select(Conversation).where(*key))
    if conversation is not None:
        return conversation
    conversation = _new_conversation(sender, reference, now)
    try:
        async with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        conversation = await session.scalar(select(Conversation).where(*key))
        assert conversation is not None
    return conversation


def _new_conversation(sender: Sender, reference: ConversationReference, now: datetime) -> Conversation:
    return Conversation(
        creator_id=sender.creator.id,
        user_id=sender.user.id,
        channel=reference.channel,
        chat_id=reference.chat_id,
        thread_id=reference.thread_id or "",
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class NewClaimCode:
    """A creator's fresh claim code, shown this once, and when it stops working."""

    code: str
    expires_at: datetime


async def reissue_claim_code(
    session: AsyncSession, creator_id: str, now: datetime, *, claim_code_hours: float = DEFAULT_CODE_HOURS
) -> NewClaimCode | None:
    """Give the creator a new claim code (the old one, used or not, stops working); None if no such creator.

    For a code that expired before anyone claimed it, or for a second person (an assistant) who should
    take the creator role: claiming is one-time, so each person needs a code of their own.
    """
    creator = await session.get(Creator, creator_id)
    if creator is None:
        return None
    code = new_claim_code()
    creator.claim_code_hash = claim_code_hash(code)
    creator.claim_code_expires_at = now + timedelta(hours=claim_code_hours)
    return NewClaimCode(code, creator.claim_code_expires_at)


async def rotate_api_key(session: AsyncSession, creator_id: str) -> str | None:
    """Replace the creator's API key; the old key stops working at once. None if no such creator."""
    creator = await session.get(Creator, creator_id)
    if creator is None:
        return None
    api_key = new_api_key("cr")
    creator.api_key_hash = hash_secret(api_key)
    return api_key

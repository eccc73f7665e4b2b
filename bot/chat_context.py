"""What answering a chat message needs to know, read in one statement: who sent it (their user and
creator), the conversation, its recent turns, and whether the person is in a program.

Identifying a sender the general way (`bot.identity.resolve_sender`, then `conversation_for` and
`bot.memory.recent_turns`, and the program runner's look for an enrolment) takes six statements and
builds ORM objects for each row. For a person who wrote before, in a conversation that exists,
nothing needs writing, so one read of the account joined to its user, creator, conversation and the
turns since the last /reset, with whether an active enrolment exists and whether the creator has
any ready document (without one the answer searches nothing), does the same. Any
other case (a first message, a new name, a deep link to another creator, an account marked
unreachable) returns None, and the caller takes the general way, which writes what changed.

Nothing is cached between messages: each message reads the rows as they are now, so a change made
anywhere (another instance, the dashboard, the CLI) counts from the next message on. Roles are not
read here: chat needs none (commands, which do, take the general way every time), and consent is
checked by the outbox before every send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, and_, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.foundation.messages import IncomingMessage
from bot.foundation.tables import ChannelAccount, Conversation, Creator, User
from bot.identity import SCOPE_SEPARATOR
from bot.models import HistoryMessage
from channels.web import NAME as WEB
from coaching.generation import ChatTurn
from coaching.models import KnowledgeDocument
from programs.models import Enrollment

ACCOUNTS = cast(Table, ChannelAccount.__table__)
USERS = cast(Table, User.__table__)
CREATORS = cast(Table, Creator.__table__)
CONVERSATIONS = cast(Table, Conversation.__table__)
HISTORY = cast(Table, HistoryMessage.__table__)
ENROLLMENTS = cast(Table, Enrollment.__table__)
DOCUMENTS = cast(Table, KnowledgeDocument.__table__)


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """A conversation as the answer is filed under it: its id and the creator whose twin answers."""

    id: int
    creator_id: str


@dataclass(frozen=True, slots=True)
class ChatContext:
    """Who a chat message is from, the conversation it belongs to and its memory, oldest turn first."""

    user_id: int
    creator_id: str
    creator_name: str
    conversation: ConversationKey
    history: tuple[ChatTurn, ...]
    # In a program now (or not known): only then may a program's question be waiting for this answer.
    enrolled: bool = True
    # Whether the creator has a ready document (None: not read): without one, nothing is searched.
    has_material: bool | None = None


# Built once: the account, joined to everything the answer needs; one row per remembered turn (the
# newest first), or one row with no turn when there is none yet.
_READ = (
    select(
        USERS.c.id,
        USERS.c.display_name,
        USERS.c.creator_id,
        ACCOUNTS.c.reachable,
        CREATORS.c.name,
        CONVERSATIONS.c.id,
        exists()
        .where(ENROLLMENTS.c.user_id == USERS.c.id, ENROLLMENTS.c.status == "active")
        .label("enrolled"),
        exists()
        .where(DOCUMENTS.c.creator_id == USERS.c.creator_id, DOCUMENTS.c.status == "ready")
        .label("has_material"),
        HISTORY.c.role,
        HISTORY.c.text,
    )
    .select_from(ACCOUNTS)
    .join(USERS, USERS.c.id == ACCOUNTS.c.user_id)
    .join(CREATORS, CREATORS.c.id == USERS.c.creator_id)
    .join(
        CONVERSATIONS,
        and_(
            CONVERSATIONS.c.creator_id == USERS.c.creator_id,
            CONVERSATIONS.c.user_id == USERS.c.id,
            CONVERSATIONS.c.channel == bindparam("conversation_channel"),
            CONVERSATIONS.c.chat_id == bindparam("chat_id"),
            CONVERSATIONS.c.thread_id == bindparam("thread_id"),
        ),
    )
    .outerjoin(
        HISTORY,
        and_(
            HISTORY.c.conversation_id == CONVERSATIONS.c.id,
            HISTORY.c.is_command.is_(False),
            HISTORY.c.id > CONVERSATIONS.c.memory_after_id,
        ),
    )
    .where(ACCOUNTS.c.channel == bindparam("channel"), ACCOUNTS.c.external_id == bindparam("external_id"))
    .order_by(HISTORY.c.id.desc())
    .limit(bindparam("turns"))
)


# Built once: the two facts the general way (a first message) reads beside its own writes.
_FACTS = select(
    exists()
    .where(ENROLLMENTS.c.user_id == bindparam("user_id"), ENROLLMENTS.c.status == "active")
    .label("enrolled"),
    exists()
    .where(DOCUMENTS.c.creator_id == bindparam("creator_id"), DOCUMENTS.c.status == "ready")
    .label("has_material"),
)


async def read_chat_facts(
    connection: AsyncConnection | AsyncSession, user_id: int, creator_id: str
) -> tuple[bool, bool]:
    """Whether the person is in a program now, and whether their creator has a ready document: what
    `read_chat_context` reads with the rest, for the general way (one statement)."""
    enrolled, has_material = (
        await connection.execute(_FACTS, {"user_id": user_id, "creator_id": creator_id})
    ).one()
    return bool(enrolled), bool(has_material)


def wanted_creator(message: IncomingMessage) -> str | None:
    """The creator the message must reach, when it names one: a deep link or the chat API's
    `creator_id`, overridden by a creator key's own web account (`<creator id>:<user id>`)."""
    if message.channel == WEB:
        prefix, separator, rest = message.user_id.partition(SCOPE_SEPARATOR)
        if separator and rest:
            return prefix
    return message.creator_id


async def read_chat_context(
    connection: AsyncConnection, message: IncomingMessage, memory_turns: int
) -> ChatContext | None:
    """The context of a message from a known person in an existing conversation, when answering it
    changes nothing about them; None when the general way must run (it writes what changed)."""
    reference = message.conversation
    rows = (
        await connection.execute(
            _READ,
            {
                "channel": message.channel,
                "external_id": message.user_id,
                "conversation_channel": reference.channel,
                "chat_id": reference.chat_id,
                "thread_id": reference.thread_id or "",
                "turns": max(1, memory_turns),
            },
        )
    ).all()
    if not rows:
        return None  # a first message, or a first message in this chat
    user_id, display_name, creator_id, reachable, creator_name, conversation_id, enrolled, has_material = (
        rows[0][:8]
    )
    wanted = wanted_creator(message)
    if (
        (wanted is not None and wanted != creator_id)
        or (message.user_name and message.user_name != display_name)
        or not reachable
    ):
        return None
    turns = [
        ChatTurn("assistant" if role == "assistant" else "user", text)
        for *_, role, text in rows
        if role is not None
    ]
    history = tuple(reversed(turns)) if memory_turns > 0 else ()
    conversation = ConversationKey(conversation_id, creator_id)
    return ChatContext(
        user_id,
        creator_id,
        creator_name,
        conversation,
        history,
        enrolled=bool(enrolled),
        has_material=bool(has_material),
    )

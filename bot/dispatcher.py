"""The dispatcher: decides what a received message is (a command or chat) and queues the answer.

Slow work (the model) runs outside any transaction. The answer's effects — command side effects, the
transcript, the queued replies and marking the message done — commit together, and only while this
worker still holds the message's lease, so a message is answered exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.audit import audit_entry
from bot.chat_context import ChatContext, ConversationKey, read_chat_context, read_chat_facts
from bot.command_forms import command_form
from bot.commands import (
    CommandContext,
    CommandError,
    CommandRegistry,
    CommandServices,
    ParsedCommand,
    Reply,
    read_command,
    refusal,
)
from bot.foundation.clock import Clock
from bot.foundation.messages import ConversationReference, IncomingMessage, OutgoingMessage
from bot.foundation.tables import Conversation
from bot.identity import Sender, conversation_for, resolve_sender
from bot.inbox import Inbox, to_incoming
from bot.memory import recent_turns
from bot.models import AuditEntry, HistoryMessage, InboxMessage
from bot.outbox import Outbox
from bot.streaming import ReplyStream
from coaching.responder import Responder

log = logging.getLogger(__name__)

HISTORY = cast(Table, HistoryMessage.__table__)
# Built once: SQLAlchemy keys its compiled-statement cache by walking a statement, which a statement
# built afresh for every message pays each time.
_INSERT_TURNS = insert(HISTORY)

APOLOGY = "Sorry — something went wrong on my side and I couldn't answer that. Please try again in a moment."


class LeaseLostError(Exception):
    """Another worker took over this message; our answer must not be committed."""


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """Limits the dispatcher applies to every message."""

    admins: frozenset[tuple[str, str]]
    memory_turns: int
    # Channels whose every user is the operator (the terminal): they hold the admin role.
    trusted_channels: frozenset[str]
    max_message_chars: int
    # Channels that want answers of about this many characters (SMS wants them concise).
    reply_chars_targets: Mapping[str, int] = field(default_factory=dict)


class Dispatcher:
    """Routes each inbox message to a command or to the responder and queues the replies."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        inbox: Inbox,
        outbox: Outbox,
        responder: Responder,
        commands: CommandRegistry,
        services: CommandServices,
        policy: DispatchPolicy,
        clock: Clock,
        *,
        on_answering: Callable[[ConversationReference], Awaitable[None]] | None = None,
        before_chat: Callable[[int, str, int], Awaitable[list[Reply] | None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._engine = cast(AsyncEngine, sessions.kw["bind"])
        self._inbox = inbox
        self._outbox = outbox
        self.responder = responder
        self.commands = commands
        self.services = services
        self._policy = policy
        self._clock = clock
        # Told when slow work for a chat begins, so the channel can show "typing…".
        self._on_answering = on_answering
        # Offered each chat message of a person in a program first (a program's question waiting
        # for an answer); the replies it returns are the answer, None leaves the message to the twin.
        self._before_chat = before_chat

    async def process(self, row: InboxMessage) -> None:
        """Answer one claimed inbox message. Raises on failure; the worker decides about retries.

        Three paths: a quick command, a slow command (an upload, or other long work such as /ask), and
        chat with the twin.
        """
        message = to_incoming(row)
        parsed = read_command(message)
        if parsed is None:
            queued = await self._chat(row, message)
        else:
            command = self.commands.get(parsed.name)
            if command is not None and command.slow:
                queued = await self._slow_command(row, message, parsed)
            else:
                queued = await self._quick_command(row, message, parsed)
        self._outbox.queued.notify()
        if not queued:
            # Answered with nothing to send: a waiter learns it now. Replies to send are told by the
            # outbox as each settles; a look before that would find them pending.
            self._outbox.replies_moved.notify(row.id)

    async def _quick_command(self, row: InboxMessage, message: IncomingMessage, parsed: ParsedCommand) -> int:
        """A command that is quick and changes state: one transaction, committed with its reply.

        Unknown commands take this path too: their answer is a hint.
        """
        async with self._sessions.begin() as session:
            sender, conversation = await self._identify(session, message)
            replies, audit = await self._run_command(
                session, sender, conversation, message, parsed.name, parsed.args
            )
            if audit is not None:
                session.add(audit)
            return await self._complete(session, row, message, key_of(conversation), replies, is_command=True)

    async def _slow_command(self, row: InboxMessage, message: IncomingMessage, parsed: ParsedCommand) -> int:
        """An upload or other long work: identify, work with no transaction held, then answer.

        Its progress notes go out as it reports them; its audit entry commits with the answer.
        """
        async with self._sessions.begin() as session:
            sender, conversation = await self._identify(session, message)
        if self._on_answering is not None:
            await self._on_answering(message.conversation)
        replies, audit = await self._run_command(
            None,
            sender,
            conversation,
            message,
            parsed.name,
            parsed.args,
            progress=self._progress_reporter(row, message, key_of(conversation)),
        )
        async with self._sessions.begin() as session:
            if audit is not None:  # committed with the answer, so a rerun cannot log it twice
                session.add(audit)
            return await self._complete(session, row, message, key_of(conversation), replies, is_command=True)

    async def _chat(self, row: InboxMessage, message: IncomingMessage) -> int:
        """A chat message: refused, taken by a program waiting for an answer, or answered by the twin."""
        context = await self._chat_context(message)
        refusal_text = self._refuse_chat(message)
        transcript: list[str] | None = None
        taken = None
        if refusal_text is None and self._before_chat is not None and context.enrolled:
            taken = await self._before_chat(context.user_id, message.text.strip(), row.id)
        if taken is not None:
            replies = taken
        elif refusal_text is not None:
            replies = [Reply(refusal_text)]
        else:
            replies, transcript = await self._ask_the_twin(row, message, context)
        # A Core transaction: the answer is written with statements alone (no ORM objects to flush).
        async with self._engine.begin() as connection:
            return await self._complete(
                connection,
                row,
                message,
                context.conversation,
                replies,
                is_command=False,
                transcript=transcript,
            )

    async def _chat_context(self, message: IncomingMessage) -> ChatContext:
        """Who wrote, where, and the conversation's memory: one read for a person who wrote before
        (`bot.chat_context`); for anyone else the general way, which creates or updates their rows."""
        async with self._engine.connect() as connection:
            found = await read_chat_context(connection, message, self._policy.memory_turns)
        if found is not None:
            return found
        async with self._sessions.begin() as session:
            sender, conversation = await self._identify(session, message)
            # A person who wrote for the first time has no turns yet.
            history = (
                () if sender.is_new else await recent_turns(session, conversation, self._policy.memory_turns)
            )
            enrolled, has_material = await read_chat_facts(session, sender.user.id, sender.creator.id)
        creator = sender.creator
        return ChatContext(
            sender.user.id,
            creator.id,
            creator.name,
            key_of(conversation),
            history,
            enrolled=enrolled,
            has_material=has_material,
        )

    async def _ask_the_twin(
        self, row: InboxMessage, message: IncomingMessage, context: ChatContext
    ) -> tuple[list[Reply], list[str] | None]:
        """The twin's answer as replies still to send, and the transcript when parts went out already."""
        # The model may take a while: no transaction (and no SQLite lock) is held meanwhile.
        if self._on_answering is not None:
            await self._on_answering(message.conversation)
        concise = self._policy.reply_chars_targets.get(message.channel)
        # Concise channels (SMS) get one message; elsewhere a slow answer goes out as it is written.
        stream = None if concise else ReplyStream(self._progress_reporter(row, message, context.conversation))
        answer = await self.responder.answer(
            creator_id=context.creator_id,
            creator_name=context.creator_name,
            question=message.text.strip(),
            history=context.history,
            max_chars=concise,
            on_text=stream.feed if stream is not None else None,
            has_material=context.has_material,
        )
        if answer.fallback_reason:
            log.info("inbox %s answered by %s: %s", row.id, answer.generator, answer.fallback_reason)
        if stream is not None and stream.parts_sent:
            # The first parts are out already; the transcript keeps the answer whole.
            return [Reply(stream.remainder(), sources=answer.sources)], [answer.text]
        return [Reply(answer.text, sources=answer.sources)], None

    async def give_up(self, row: InboxMessage, error: str) -> None:
        """After the last failed attempt: tell the person, and mark the message failed."""
        message = to_incoming(row)
        async with self._sessions.begin() as session:
            try:
                _, conversation = await self._identify(session, message)
                conversation_id: int | None = conversation.id
                reference = self._reply_reference(message, conversation.creator_id)
            except Exception:  # the identity step may be what failed; still answer the person
                conversation_id, reference = None, message.conversation
            # Ours to finish first: a worker that lost the row must not queue a second apology.
            if not await self._inbox.finish(session, row.id, status="failed", error=error[:2000]):
                raise LeaseLostError(row.id)
            self._outbox.enqueue(
                session,
                OutgoingMessage(reference, APOLOGY, reply_to_message_id=message.message_id),
                dedupe_key=f"inbox:{row.id}:failed",
                conversation_id=conversation_id,
                inbox_id=row.id,
            )
        self._outbox.queued.notify()
        self._outbox.replies_moved.notify(row.id)

    async def _identify(self, session: AsyncSession, message: IncomingMessage) -> tuple[Sender, Conversation]:
        sender = await resolve_sender(
            session,
            channel=message.channel,
            external_id=message.user_id,
            display_name=message.user_name,
            creator_hint=message.creator_id,
            admins=set(self._policy.admins) | self._trusted(message),
            now=self._clock.now(),
        )
        conversation = await conversation_for(session, sender, message.conversation, self._clock.now())
        return sender, conversation

    async def _run_command(
        self,
        session: AsyncSession | None,
        sender: Sender,
        conversation: Conversation,
        message: IncomingMessage,
        name: str,
        args: str,
        progress: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[list[Reply], AuditEntry | None]:
        """Run a command if the sender may: its replies, and the audit entry to commit with them."""
        command = self.commands.get(name)
        channel = message.channel
        if command is None:
            unknown, help_form = command_form(name, channel), command_form("help", channel)
            return [Reply(f"I don't know {unknown}. Type {help_form} to see what you can do.")], None
        # The one role check: a refused command changes nothing and is not audited.
        if not sender.has_any(command.roles):
            return [Reply(refusal(command, channel))], None
        context = CommandContext(
            session=session,
            sender=sender,
            conversation=conversation,
            message=message,
            args=args,
            now=self._clock.now(),
            registry=self.commands,
            services=self.services,
        )
        if progress is not None:
            context.progress = progress
        try:
            if session is None:
                replies = await command.handler(context)
            else:
                # A savepoint, so that a command refusing half-way leaves nothing it had changed.
                async with session.begin_nested():
                    replies = await command.handler(context)
        except CommandError as problem:
            return [Reply(problem.reply)], None
        return replies, audit_entry(command, context)

    def _progress_reporter(
        self, row: InboxMessage, message: IncomingMessage, conversation: ConversationKey
    ) -> Callable[[str], Awaitable[None]]:
        """Send a slow command's progress notes at once, each exactly once even if the command reruns."""
        reference = self._reply_reference(message, conversation.creator_id)
        sent = 0

        async def report(text: str) -> None:
            nonlocal sent
            sent += 1
            try:
                async with self._sessions.begin() as session:
                    self._outbox.enqueue(
                        session,
                        OutgoingMessage(reference, text, reply_to_message_id=message.message_id),
                        dedupe_key=f"inbox:{row.id}:progress:{sent}",
                        conversation_id=conversation.id,
                        inbox_id=row.id,
                    )
            except IntegrityError:  # a rerun after a crash: this note already went out
                return
            self._outbox.queued.notify()

        return report

    def _trusted(self, message: IncomingMessage) -> set[tuple[str, str]]:
        return (
            {(message.channel, message.user_id)}
            if message.channel in self._policy.trusted_channels
            else set()
        )

    def _refuse_chat(self, message: IncomingMessage) -> str | None:
        text = message.text.strip()
        if len(text) > self._policy.max_message_chars:
            return (
                f"That message is too long for me ({len(text):,} characters; I read up to "
                f"{self._policy.max_message_chars:,}). Could you send a shorter version?"
            )
        if not text:
            if message.attachments:
                return "I can't read attachments here yet — please send your question as text."
            return "I didn't catch anything there — what would you like to ask?"
        return None

    def _reply_reference(self, message: IncomingMessage, creator_id: str) -> ConversationReference:
        ref = message.conversation
        return ConversationReference(ref.channel, ref.chat_id, creator_id=creator_id, thread_id=ref.thread_id)

    async def _complete(
        self,
        session: AsyncSession | AsyncConnection,
        row: InboxMessage,
        message: IncomingMessage,
        conversation: ConversationKey,
        replies: Sequence[Reply],
        *,
        is_command: bool,
        transcript: Sequence[str] | None = None,
    ) -> int:
        """Commit the answer: the transcript (`transcript`, or the replies' texts), the replies, done;
        how many replies it queued."""
        now = self._clock.now()
        turns = [
            {
                "conversation_id": conversation.id,
                "role": "user",
                "text": message.text,
                "is_command": is_command,
                "sources": [],
                "inbox_id": row.id,
                "created_at": message.received_at,
            }
        ]
        reference = self._reply_reference(message, conversation.creator_id)
        said = (
            [(text, [source for reply in replies for source in reply.sources]) for text in transcript]
            if transcript is not None
            else [(reply.text, list(reply.sources)) for reply in replies]
        )
        turns += [
            {
                "conversation_id": conversation.id,
                "role": "assistant",
                "text": text,
                "is_command": is_command,
                "sources": [source.to_dict() for source in sources],
                "inbox_id": row.id,
                "created_at": now,
            }
            for text, sources in said
        ]
        # Every turn in one statement (a Core executemany): the ORM inserted them one by one.
        await session.execute(_INSERT_TURNS, turns)
        await self._outbox.enqueue_replies(
            session,
            [
                (
                    f"inbox:{row.id}:{index}",
                    OutgoingMessage(
                        reference,
                        reply.text,
                        sources=reply.sources,
                        buttons=reply.buttons,
                        reply_to_message_id=message.message_id,
                    ),
                )
                for index, reply in enumerate(replies)
            ],
            conversation_id=conversation.id,
            inbox_id=row.id,
        )
        if not await self._inbox.finish(session, row.id, status="done"):
            raise LeaseLostError(row.id)
        return len(replies)


def key_of(conversation: Conversation) -> ConversationKey:
    """The conversation as an answer is filed under it."""
    return ConversationKey(conversation.id, conversation.creator_id)

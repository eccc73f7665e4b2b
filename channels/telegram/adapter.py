"""The Telegram channel: python-telegram-bot's `Bot` for API calls, our own long-polling loop or webhook.

Receiving: in polling mode a loop calls getUpdates and hands each update to the sink; the offset
moves past an update only after the sink returned (the message is persisted), so a crash never
loses one — Telegram redelivers what was not confirmed and the inbox answers it once. In webhook
mode `POST /webhooks/telegram` checks the secret header, persists, and only then answers 200.

Sending: one outbox message may become several Telegram messages (4096-character limit, see
`formatting`); `send_cost` tells the outbox's rate limiter how many. If a send fails after some
parts went out, the parts already delivered are remembered in memory and skipped on the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)
from telegram.error import ChatMigrated, Conflict, TelegramError

from bot.foundation.messages import Attachment, Button, ConversationReference, OutgoingMessage
from channels.base import (
    Channel,
    ChannelLimits,
    ChannelStatus,
    MessageSink,
    PermanentSendError,
    SendResult,
)
from channels.telegram import CAPABILITIES
from channels.telegram.aiohttp_request import AiohttpRequest
from channels.telegram.errors import to_send_error
from channels.telegram.files import download
from channels.telegram.formatting import render
from channels.telegram.typing_indicator import TypingIndicator, chat_address
from channels.telegram.updates import BotIdentity, parse_update, reply_target
from channels.telegram.webhook import WEBHOOK_PATH, read_update, secret_matches, webhook_router

if TYPE_CHECKING:
    from channels.telegram.settings import TelegramSettings
    from config import Settings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
# The first wait after a failed call to Telegram; it doubles up to a minute (tests lengthen it).
FIRST_RETRY_SECONDS = 1.0
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


class TelegramChannel(Channel):
    """A Telegram bot, over long polling (the default) or a webhook."""

    name = "telegram"
    capabilities = CAPABILITIES

    def __init__(
        self,
        token: str,
        *,
        api_url: str = "https://api.telegram.org",
        webhook_secret: str = "",
        public_url: str = "",
        chat_rate: float = 1.0,
        global_rate: float = 30.0,
        poll_timeout: int = 30,
        start_wait_seconds: float = 10.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        api = api_url.rstrip("/")
        # aiohttp rather than PTB's default httpx: a fifth of the client CPU per call (aiohttp_request).
        self._requests = (AiohttpRequest(), AiohttpRequest(connection_pool_size=1))
        self._bot = Bot(
            token,
            base_url=f"{api}/bot",
            base_file_url=f"{api}/file/bot",
            request=self._requests[0],
            # One long poll at a time, like PTB's own getUpdates request.
            get_updates_request=self._requests[1],
        )
        self.limits = ChannelLimits(per_chat_rate=chat_rate, overall_rate=global_rate)
        self.mode = "webhook" if webhook_secret and public_url else "polling"
        self.webhook_url = f"{public_url.rstrip('/')}{WEBHOOK_PATH}" if self.mode == "webhook" else ""
        self._secret = webhook_secret
        self._poll_timeout = poll_timeout
        self._start_wait = start_wait_seconds
        self._now = now
        self._part_gap = 1.0 / chat_rate
        self._commands: list[BotCommand] = []
        self._identity: BotIdentity | None = None
        self._sink: MessageSink | None = None
        self._status = ChannelStatus("off", "not started")
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._interruptible = False  # the runner waits on the network or a backoff: safe to cancel
        self._typing = TypingIndicator(self._bot)
        self._background: set[asyncio.Task[Any]] = set()
        # Parts already delivered of messages whose send failed midway (a per-instance memory).
        self._delivered_parts: OrderedDict[str, int] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, own: TelegramSettings) -> TelegramChannel:
        """The channel as the core settings (the public URL) and its own describe it."""
        if own.webhook_secret and not settings.public_url:
            log.warning("TELEGRAM_WEBHOOK_SECRET is set but COACH_PUBLIC_URL is not: using long polling")
        return cls(
            own.bot_token,
            api_url=own.api_url,
            webhook_secret=own.webhook_secret,
            public_url=settings.public_url,
            chat_rate=own.chat_rate,
            global_rate=own.global_rate,
        )

    @property
    def bot(self) -> Bot:
        """The python-telegram-bot client this channel calls the Bot API with."""
        return self._bot

    def set_command_menu(self, commands: Sequence[tuple[str, str]]) -> None:
        """The commands to show in Telegram's menu (setMyCommands at start): (name, description)."""
        self._commands = [
            BotCommand(name, description.strip()[:256])
            for name, description in commands
            if _COMMAND_NAME.match(name) and description.strip()
        ]

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self, sink: MessageSink) -> None:
        """Check the token (getMe), set or delete the webhook, publish the commands, start polling.

        Returns once the first attempt is over (or after `start_wait_seconds`): when Telegram is
        unreachable the channel reports itself degraded and keeps retrying in the background.
        """
        self._sink = sink
        self._stopping = False
        self._status = ChannelStatus("degraded", "connecting to the Bot API")
        first_attempt = asyncio.Event()
        self._runner = asyncio.create_task(self._run(first_attempt), name="telegram")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._start_wait):
                await first_attempt.wait()

    async def stop(self) -> None:
        """Stop polling (an update being stored is finished first), typing indicators, connections."""
        self._stopping = True
        if self._runner is not None:
            if self._interruptible:
                self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self._typing.close()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await self._bot.shutdown()
        # Sends may have opened the connections before `Bot.initialize` (which `shutdown` skips then).
        await asyncio.gather(*(request.shutdown() for request in self._requests))
        self._status = ChannelStatus("off", "stopped")

    def status(self) -> ChannelStatus:
        """`real` once getMe answered and receiving works; `degraded` with the reason otherwise."""
        return self._status

    async def _run(self, first_attempt: asyncio.Event) -> None:
        # The runner may be cancelled at any point except while the sink stores an update.
        self._interruptible = True
        delay = FIRST_RETRY_SECONDS
        while not self._stopping:
            try:
                await self._set_up()
                break
            except Exception as exc:  # never let a Telegram outage take the service down
                self._degrade(f"setting up the bot failed: {self._describe(exc)}", exc, delay)
                first_attempt.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        first_attempt.set()
        if self.mode == "polling":
            await self._poll()

    async def _set_up(self) -> None:
        await self._bot.initialize()  # getMe: checks the token and tells us our id and @username
        me = self._bot.bot
        self._identity = BotIdentity(me.id, me.username or "")
        if self.mode == "webhook":
            await self._bot.set_webhook(
                url=self.webhook_url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES
            )
        else:
            await self._bot.delete_webhook()  # getUpdates is refused while a webhook is set
        if self._commands:
            try:
                await self._bot.set_my_commands(self._commands)
            except TelegramError as exc:  # the menu is a convenience; the commands work without it
                log.warning("Telegram refused the command menu: %s", exc.message)
        self._status = ChannelStatus("real", self._running_detail())

    def _running_detail(self) -> str:
        who = f"@{self._identity.username}" if self._identity else "the bot"
        if self.mode == "webhook":
            return f"{who}, webhook at {self.webhook_url}"
        return f"{who}, long polling"

    def _describe(self, exc: BaseException) -> str:
        text = exc.message if isinstance(exc, TelegramError) else f"{type(exc).__name__}: {exc}"
        # PTB puts the token in some messages ("The token `…` was rejected"); status is shown on /health.
        return text.replace(self._bot.token, "<token>")

    def _degrade(self, reason: str, exc: BaseException, delay: float) -> None:
        log.warning(
            "Telegram: %s; retrying in %.0f s", reason, delay, exc_info=not isinstance(exc, TelegramError)
        )
        self._status = ChannelStatus("degraded", f"{reason}; retrying")

    # --- receiving ---------------------------------------------------------------------------------

    async def _poll(self) -> None:
        offset: int | None = None
        delay = FIRST_RETRY_SECONDS
        while not self._stopping:
            try:
                updates = await self._get_updates(offset)
            except Exception as exc:
                if isinstance(exc, Conflict):
                    reason = "another process polls this bot, or a webhook is set"
                else:
                    reason = f"getUpdates failed: {self._describe(exc)}"
                self._degrade(reason, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            self._interruptible = False
            try:
                if self._stopping:
                    return  # unconfirmed: Telegram delivers them again
                # Stored together (the inbox commits updates that arrive together in one write); the
                # offset moves past the leading run that was stored, in order.
                stored = await asyncio.gather(*map(self._accept, updates), return_exceptions=True)
                for update, outcome in zip(updates, stored, strict=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
                    offset = int(update["update_id"]) + 1  # confirmed by the next getUpdates
            except Exception as exc:  # the inbox could not store it: try the same update again
                self._interruptible = True
                self._degrade(f"could not store an update: {self._describe(exc)}", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            finally:
                self._interruptible = True
            delay = FIRST_RETRY_SECONDS
            if self._status.state != "real":
                self._status = ChannelStatus("real", self._running_detail())

    async def _get_updates(self, offset: int | None) -> list[dict[str, Any]]:
        """One long poll, as raw JSON updates.

        `Bot.get_updates` parses the whole batch at once, so one update this library version cannot
        read would fail every poll forever; `Bot._post` (what it calls) returns them raw, and
        `_accept` parses each one alone.
        """
        data: dict[str, Any] = {
            "offset": offset,
            "timeout": self._poll_timeout,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        result = await self._bot._post("getUpdates", data, read_timeout=self._poll_timeout + 10)
        return [item for item in result if isinstance(item, dict) and isinstance(item.get("update_id"), int)]

    async def _accept(self, update: dict[str, Any]) -> None:
        """Hand the update's message to the sink (persisted when this returns); ack button taps."""
        assert self._sink is not None and self._identity is not None
        try:
            message = parse_update(update, self._identity, self._now())
        except Exception:  # a payload we cannot read must not block every update after it
            log.exception("Telegram update %s could not be read; skipped", update.get("update_id"))
            return
        if message is not None:
            await self._sink(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            # Stops the spinner on the tapped button; cosmetic, so it runs beside the reply.
            self._in_background(self._answer_callback(str(query["id"])))

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self._bot.answer_callback_query(query_id)
        except TelegramError as exc:  # too old, or already answered after a redelivery
            log.debug("answerCallbackQuery %s failed: %s", query_id, exc.message)

    def router(self) -> APIRouter:
        """`POST /webhooks/telegram`; it answers 404 while the channel is in polling mode."""
        return webhook_router(self.handle_webhook)

    async def handle_webhook(self, request: Request) -> Response:
        """Verify the secret header, persist the update's message, then acknowledge it."""
        if self.mode != "webhook":
            return JSONResponse({"detail": "Telegram webhooks are off: the bot uses long polling"}, 404)
        if not secret_matches(request, self._secret):
            return JSONResponse({"detail": "wrong or missing secret token"}, 403)
        if self._sink is None or self._identity is None:
            # Telegram retries; by then getMe will have told us who we are.
            return JSONResponse({"detail": "the Telegram channel is starting"}, 503)
        update = read_update(await request.body())
        if update is None:
            return JSONResponse({"detail": "the body is not a Telegram Update"}, 400)
        try:
            await self._accept(update)
        except Exception:
            log.exception("Telegram update %s could not be stored", update["update_id"])
            return JSONResponse({"detail": "could not store the update; Telegram will retry"}, 500)
        return JSONResponse({"ok": True})

    # --- sending -----------------------------------------------------------------------------------

    def send_cost(self, message: OutgoingMessage) -> int:
        """How many Telegram messages `message` becomes."""
        return max(1, len(render(message).parts))

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send the message's parts in order; buttons go on the last, a group reply quotes the question."""
        conversation = message.conversation
        self._typing.clear(conversation)
        rendered = render(message)
        if not rendered.parts:
            raise PermanentSendError("nothing to send: the message is empty")
        chat_id, thread_id = chat_address(conversation)
        quote = reply_target(message.reply_to_message_id) if _is_group(chat_id) else None
        last = len(rendered.parts) - 1
        # Only a message of several parts can have been cut off midway (a hash per send otherwise).
        key = _message_key(message) if last > 0 else ""
        first = self._delivered_parts.pop(key, 0) if last > 0 else 0
        sent: int | None = None
        for index in range(first, last + 1):
            if index > first:
                await asyncio.sleep(self._part_gap)  # one chat's pace also between parts
            try:
                sent = await self._send_part(
                    chat_id,
                    rendered.parts[index],
                    thread_id=thread_id,
                    quote=quote if index == 0 else None,
                    buttons=rendered.buttons if index == last else (),
                )
            except TelegramError as exc:
                error = to_send_error(exc)
                if index > 0 and not error.permanent:
                    self._remember_delivered(key, index)
                raise error from exc
        assert sent is not None
        return SendResult(str(sent))

    async def _send_part(
        self,
        chat_id: int | str,
        text: str,
        *,
        thread_id: int | None,
        quote: int | None,
        buttons: tuple[Button, ...],
    ) -> int:
        """Send one part; its Telegram message id."""
        markup = (
            InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.value)] for b in buttons])
            if buttons
            else None
        )
        reply = ReplyParameters(quote, allow_sending_without_reply=True) if quote is not None else None
        try:
            return await self._send_message(chat_id, text, thread_id, reply, markup)
        except ChatMigrated as moved:  # the group became a supergroup: its new id takes the message
            log.info("Telegram chat %s moved to %s", chat_id, moved.new_chat_id)
            return await self._send_message(moved.new_chat_id, text, thread_id, None, markup)

    async def _send_message(
        self,
        chat_id: int | str,
        text: str,
        thread_id: int | None,
        reply: ReplyParameters | None,
        markup: InlineKeyboardMarkup | None,
    ) -> int:
        """sendMessage, reading only the message id from the answer.

        `Bot.send_message` builds a whole `Message` (with its `Chat` and `User`) from every answer,
        which costs about as much CPU as the HTTP call itself; the outbox needs only the id. `_post` is
        what `send_message` calls (the same parameters, defaults and errors).
        """
        data: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "message_thread_id": thread_id,
            "reply_parameters": reply,
            "reply_markup": markup,
        }
        result = await self._bot._post("sendMessage", data)
        return int(result["message_id"])

    def _remember_delivered(self, key: str, parts: int) -> None:
        self._delivered_parts[key] = parts
        while len(self._delivered_parts) > 1000:
            self._delivered_parts.popitem(last=False)

    async def indicate_typing(self, conversation: ConversationReference) -> None:
        """Show "typing…" in the chat if the answer is not sent within half a second, and keep it up until
        it is (at most 90 s)."""
        await self._typing.show(conversation)

    # --- files -------------------------------------------------------------------------------------

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Download a file someone sent (getFile, then the file URL), within both size limits."""
        return await download(self._bot, attachment, max_bytes)

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _is_group(chat_id: int | str) -> bool:
    """Group and supergroup ids are negative; people's private chats have positive ids."""
    return isinstance(chat_id, int) and chat_id < 0


def _message_key(message: OutgoingMessage) -> str:
    """A stable name for an outgoing message across retries (the outbox row id is not passed down)."""
    content = json.dumps(
        [
            message.conversation.to_dict(),
            message.text,
            [source.to_dict() for source in message.sources],
            [[button.label, button.value] for button in message.buttons],
            message.reply_to_message_id,
        ]
    )
    return hashlib.sha256(content.encode()).hexdigest()

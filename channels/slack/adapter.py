"""The Slack channel: Events API over HTTP (`POST /webhooks/slack`) or Socket Mode in, `chat.postMessage` out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.foundation.clock import Clock, SystemClock
from bot.foundation.messages import Attachment, IncomingMessage, OutgoingMessage
from channels.base import (
    AttachmentError,
    Channel,
    ChannelLimits,
    ChannelStatus,
    MessageSink,
    PermanentSendError,
    SendResult,
    TemporarySendError,
)
from channels.slack import CAPABILITIES
from channels.slack.errors import APP_PROBLEMS, send_error
from channels.slack.files import download, too_big, trusted_file_host
from channels.slack.formatting import render
from channels.slack.names import UserNames
from channels.slack.receiving import build_bolt_app
from channels.slack.settings import SlackSettings
from channels.slack.workspaces import StaticWorkspaces, Workspace, WorkspaceDirectory

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/slack"
# Slack's payloads are a few kilobytes; anything far larger is not from Slack.
_MAX_BODY_BYTES = 1024 * 1024
# How often a broken single-workspace set-up (auth.test failed at start) is checked again.
_AUTH_RETRY_SECONDS = 10.0


class SlackChannel(Channel):
    """Slack through Bolt's `AsyncApp`: DMs and mentions answered in threads, `/coach`, buttons, files.

    Pass `workspaces` to serve several workspaces (an installation store); without it the bot token
    of the settings serves its one workspace, identified by a single `auth.test` at start.
    """

    name = "slack"
    capabilities = CAPABILITIES

    def __init__(
        self,
        settings: SlackSettings,
        *,
        clock: Clock | None = None,
        workspaces: WorkspaceDirectory | None = None,
    ) -> None:
        self.limits = ChannelLimits(
            per_chat_rate=settings.channel_rate,
            overall_rate=None,  # Slack's workspace-wide ceiling is not published: its 429s tell us
        )
        self._bot_token = settings.bot_token
        self._signing_secret = settings.signing_secret
        self._app_token = settings.app_token
        self._api_url = settings.api_url
        self._clock: Clock = clock or SystemClock()
        self._single: StaticWorkspaces | None = None
        if workspaces is None:
            self._single = StaticWorkspaces()
            workspaces = self._single
        self._workspaces: WorkspaceDirectory = workspaces
        # No retry handlers: a 429 or a dropped connection goes back to the outbox, which waits
        # `Retry-After` (or backs off) durably instead of sleeping inside a send.
        self._api = AsyncWebClient(base_url=self._api_url, retry_handlers=[], timeout=15)
        self._clients: dict[str, AsyncWebClient] = {}
        self._session: aiohttp.ClientSession | None = None
        self._files: httpx.AsyncClient | None = None
        self._names = UserNames()
        self._sink: MessageSink | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._socket_connected = False
        self._auth_lock = asyncio.Lock()
        self._auth_next_try = 0.0
        self._problem: str | None = "not started"
        self._identity: Workspace | None = None  # the single workspace, once auth.test answered
        # Which token may download a shared file (several workspaces: the one it was shared in).
        self._file_tokens: OrderedDict[str, str] = OrderedDict()
        # Parts already posted of a message whose later part failed, so a retry does not repeat them.
        self._posted_parts: OrderedDict[str, int] = OrderedDict()
        self.app = build_bolt_app(
            signing_secret=self._signing_secret,
            client=self._api,
            authorize=self._authorize,
            deliver=self._deliver,
            now=self._clock.now,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, sink: MessageSink) -> None:
        """Open the HTTP session, learn who the bot is (one `auth.test`), connect Socket Mode if set."""
        self._sink = sink
        # One connection pool for every Web API call, Bolt's per-request clients included.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._api.session = self._session
        self._files = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        self._problem = None
        if self._single is not None:
            await self._identify()
        if self._app_token:
            self._socket_task = asyncio.create_task(self._run_socket_mode(), name="slack-socket-mode")

    async def stop(self) -> None:
        """Disconnect Socket Mode, cancel name lookups, close the HTTP clients."""
        if self._socket_task is not None:
            self._socket_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._socket_task
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket, self._socket_connected = None, False
        await self._names.aclose()
        if self._files is not None:
            await self._files.aclose()
        if self._session is not None:
            await self._session.close()
        self._sink = None

    def status(self) -> ChannelStatus:
        """Real once the bot knows its workspace; degraded with the reason otherwise."""
        if self._problem:
            return ChannelStatus("degraded", self._problem)
        if self._app_token and not self._socket_connected:
            return ChannelStatus("degraded", "Socket Mode is connecting to Slack")
        mode = "Socket Mode" if self._app_token else f"Events API at POST {WEBHOOK_PATH}"
        if self._identity is not None:
            return ChannelStatus(
                "real", f"team {self._identity.team_id} as <@{self._identity.bot_user_id}>; {mode}"
            )
        return ChannelStatus("real", mode)

    async def _identify(self) -> bool:
        """`auth.test` once: the team, the bot's ids. A failure leaves the channel degraded, not dead."""
        assert self._single is not None
        try:
            answer = await self._client_for(self._bot_token).auth_test()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc)
            self._problem = f"auth.test failed: {error}" + (
                f" ({APP_PROBLEMS[error]})" if error in APP_PROBLEMS else ""
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._problem = f"Slack did not answer auth.test ({type(exc).__name__}: {exc})"
        else:
            workspace = Workspace(
                team_id=answer.get("team_id"),
                enterprise_id=answer.get("enterprise_id") or None,
                bot_token=self._bot_token,
                bot_id=answer.get("bot_id"),
                bot_user_id=answer.get("user_id"),
            )
            self._single.add(workspace)
            self._identity = workspace
            self._problem = None
            return True
        log.error("Slack: %s", self._problem)
        self._auth_next_try = asyncio.get_running_loop().time() + _AUTH_RETRY_SECONDS
        return False

    async def _run_socket_mode(self) -> None:
        """Connect Socket Mode in the background (slack_sdk retries until it connects, and reconnects)."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(self.app, self._app_token, web_client=self._api)
        await self._socket.connect_async()  # type: ignore[no-untyped-call]
        self._socket_connected = True

    # -- receiving -------------------------------------------------------------------------------

    async def _authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        workspace = await self._workspaces.find(enterprise_id, team_id)
        if workspace is None and self._single is not None and self._identity is None:
            # auth.test failed at start (Slack unreachable, say): try again, now and then.
            async with self._auth_lock:
                if self._identity is None and asyncio.get_running_loop().time() >= self._auth_next_try:
                    await self._identify()
            workspace = await self._workspaces.find(enterprise_id, team_id)
            if workspace is None:
                # Not a SlackApiError, so Bolt answers 500 and Slack delivers the event again later.
                raise RuntimeError(f"Slack channel not ready: {self._problem}")
        return workspace.authorize_result() if workspace is not None else None

    async def _deliver(self, message: IncomingMessage, context: AsyncBoltContext) -> None:
        """Persist one message (the acknowledgement waits for this, and only this)."""
        if self._sink is None:
            raise RuntimeError("the Slack channel is not started")
        workspace = Workspace(
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            bot_token=context.bot_token or self._bot_token,
            bot_id=context.bot_id,
            bot_user_id=context.bot_user_id,
        )
        self._workspaces.remember(message.conversation.chat_id, workspace)
        for attachment in message.attachments:
            if attachment.platform_file_id:
                self._file_tokens[attachment.platform_file_id] = workspace.bot_token
                while len(self._file_tokens) > 1000:
                    self._file_tokens.popitem(last=False)
        if message.user_name is None:
            name = self._names.get(message.user_id)
            if name is not None:
                message = replace(message, user_name=name)
            elif self._session is not None:
                self._names.learn(message.user_id, self._client_for(workspace.bot_token))
        await self._sink(message)

    def router(self) -> APIRouter | None:
        """`POST /webhooks/slack` (events, slash commands, interactivity), when a signing secret is set."""
        if not self._signing_secret:
            return None  # Socket Mode only: an unsigned HTTP endpoint must not exist
        handler = AsyncSlackRequestHandler(self.app)
        router = APIRouter()

        @router.post(WEBHOOK_PATH, include_in_schema=False)
        async def slack_webhook(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > _MAX_BODY_BYTES:
                return Response(status_code=413)
            return await handler.handle(request)

        return router

    # -- sending ---------------------------------------------------------------------------------

    def send_cost(self, message: OutgoingMessage) -> int:
        """One rate unit per `chat.postMessage`: the parts the message is split into."""
        return max(1, len(render(message)))

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Post the message (in parts if long) to its channel and thread; map failures to send errors."""
        chat_id = message.conversation.chat_id
        workspace = await self._workspaces.for_chat(chat_id)
        if workspace is None:
            raise PermanentSendError(f"no Slack workspace is known for {chat_id}")
        client = self._client_for(workspace.bot_token)
        posts = render(message)
        key = _message_key(message)
        done = self._posted_parts.get(key, 0)
        first_ts: str | None = None
        for index, post in enumerate(posts):
            if index < done:
                continue
            arguments: dict[str, Any] = {
                "channel": chat_id,
                "text": post.text,
                "thread_ts": message.conversation.thread_id,
                "link_names": False,  # never turn "@channel" in a text into a ping
                "unfurl_links": False,
            }
            if post.blocks:
                arguments["blocks"] = post.blocks
            try:
                response = await client.chat_postMessage(**arguments)
            except SlackApiError as exc:
                self._remember_progress(key, index)
                error = send_error(exc, chat_id)
                code = str(exc.response.get("error") or "")
                if code in APP_PROBLEMS:
                    self._problem = f"chat.postMessage failed: {error.reason}"
                raise error from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._remember_progress(key, index)
                raise TemporarySendError(f"Slack did not answer ({type(exc).__name__}: {exc})") from exc
            first_ts = first_ts or response.get("ts")
        self._posted_parts.pop(key, None)
        return SendResult(platform_message_id=first_ts)

    def _remember_progress(self, key: str, posted: int) -> None:
        if posted == 0:
            return
        self._posted_parts[key] = posted
        self._posted_parts.move_to_end(key)
        while len(self._posted_parts) > 1000:
            self._posted_parts.popitem(last=False)

    def _client_for(self, token: str) -> AsyncWebClient:
        """A Web API client for one bot token, sharing the connection pool."""
        client = self._clients.get(token)
        if client is None:
            client = AsyncWebClient(
                token=token, base_url=self._api_url, retry_handlers=[], timeout=15, session=self._session
            )
            self._clients[token] = client
        elif client.session is not self._session:
            client.session = self._session
        return client

    # -- files -----------------------------------------------------------------------------------

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Download a shared file with the bot token (`files.info` first when the event left it out)."""
        name = attachment.file_name or "the file"
        if attachment.size is not None and attachment.size > max_bytes:
            raise too_big(name, attachment.size, max_bytes)
        if self._files is None:
            raise AttachmentError("the Slack channel is not running")
        token = self._file_tokens.get(attachment.platform_file_id or "", self._bot_token)
        url = attachment.url
        if url is None:
            if attachment.platform_file_id is None:
                raise AttachmentError(f"Slack did not say where to find {name}")
            url, attachment = await self._file_info(attachment, token)
            name = attachment.file_name or name
            if attachment.size is not None and attachment.size > max_bytes:
                raise too_big(name, attachment.size, max_bytes)
        if not trusted_file_host(url, self._api_url):
            raise AttachmentError(f"{name} is not stored on Slack; I only download files from Slack")
        return await download(self._files, attachment, url, token, max_bytes)

    async def _file_info(self, attachment: Attachment, token: str) -> tuple[str, Attachment]:
        try:
            response = await self._client_for(token).files_info(file=str(attachment.platform_file_id))
        except SlackApiError as exc:
            raise AttachmentError(
                f"Slack would not describe the file ({exc.response.get('error')}); "
                "the app may need the files:read scope"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AttachmentError(f"Slack did not answer files.info ({type(exc).__name__})") from exc
        file = response.get("file") or {}
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise AttachmentError("Slack gave no download address for the file")
        size = file.get("size")
        described = replace(
            attachment,
            file_name=file.get("name") or attachment.file_name,
            mime_type=file.get("mimetype") or attachment.mime_type,
            size=size if isinstance(size, int) else attachment.size,
        )
        return str(url), described


def _message_key(message: OutgoingMessage) -> str:
    """Identifies one outgoing message across retries (the outbox resends it unchanged)."""
    conversation = message.conversation
    digest = hashlib.sha256(message.text.encode()).hexdigest()[:16]
    return f"{conversation.chat_id}|{conversation.thread_id}|{message.reply_to_message_id}|{digest}"

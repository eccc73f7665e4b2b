"""A fake Telegram Bot API server: the real HTTP API on an ephemeral port, for the real client library.

It speaks the Bot API's shapes (`POST /bot<token>/<method>`, form-encoded parameters, answers
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`) and serves
files at `/file/bot<token>/<file_path>`. Tests queue updates for getUpdates, register files, inject
errors into the next calls of a method, and read back every call it received:

    async with run_fake_telegram() as telegram:
        telegram.queue_update(telegram_text_update("Hi, world!"))
        channel = TelegramChannel(telegram.token, api_url=telegram.url)
        ...
        [reply] = await telegram.wait_for("sendMessage")
        assert reply["chat_id"] == 12345678

Methods: getMe, deleteWebhook, setWebhook, getWebhookInfo, getUpdates (long polling, offsets
confirm updates like Telegram's), sendMessage, sendDocument, sendChatAction, getFile, answerCallbackQuery,
setMyCommands, getMyCommands. Parameters may come form-encoded (PTB's HTTPXRequest), as JSON
(`channels.telegram.aiohttp_request`) or as multipart/form-data, as the real API accepts them.

`GET /_fake/calls/<method>` answers the calls received as JSON, for a benchmark that runs the fake in a
process of its own (`tests.fakes.telegram_process`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.asgi_server import serve_asgi
from tests.support.shared_fixtures import shared_fixture
from tests.support.waiting import until

# Parameters PTB sends JSON-encoded inside the form; the rest are plain strings.
_JSON_PARAMETERS = {"reply_markup", "reply_parameters", "allowed_updates", "commands", "link_preview_options"}
_INT_PARAMETERS = {"chat_id", "offset", "limit", "timeout", "message_thread_id", "max_connections"}


@dataclass(slots=True)
class ApiCall:
    """One Bot API request the fake received (parameters decoded), with when it arrived."""

    method: str
    params: dict[str, Any]
    at: float
    returned: int = 0  # getUpdates: how many updates it answered with


@dataclass(slots=True)
class InjectedError:
    """An error the next call of a method answers with instead of succeeding."""

    error_code: int
    description: str
    parameters: dict[str, Any] | None = None

    def response(self) -> JSONResponse:
        """The Bot API's error body."""
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return JSONResponse(body, status_code=self.error_code)


def flood(retry_after: int) -> InjectedError:
    """Telegram's 429 with `retry_after`."""
    return InjectedError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


def blocked() -> InjectedError:
    """Telegram's 403 for a person who blocked the bot."""
    return InjectedError(403, "Forbidden: bot was blocked by the user")


def chat_not_found() -> InjectedError:
    """Telegram's 400 for a chat the bot cannot write to."""
    return InjectedError(400, "Bad Request: chat not found")


@dataclass
class FakeTelegram:
    """The fake server's state: the bot, pending updates, files, injected errors, and calls received."""

    token: str = "123456:TEST-TOKEN"
    bot_user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": 123456,
            "is_bot": True,
            "first_name": "Coach",
            "username": "coach_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
    )
    # How long an empty getUpdates waits at most (Telegram waits `timeout`); short, so shutdown is quick.
    max_poll_wait: float = 0.5
    calls: list[ApiCall] = field(default_factory=list)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    too_big_files: set[str] = field(default_factory=set)
    webhook: dict[str, Any] | None = None
    commands: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _errors: dict[str, list[tuple[int, InjectedError]]] = field(default_factory=dict)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _next_message_id: int = 1000
    _sent_count: int = 0  # sendMessage calls that succeeded
    _sent_more: asyncio.Event = field(default_factory=asyncio.Event)

    # --- what tests do -----------------------------------------------------------------------------

    def queue_update(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates (a copy: tests may reuse the payload)."""
        self.pending_updates.append(copy.deepcopy(update))
        self._arrived.set()

    def add_file(self, file_id: str, data: bytes) -> None:
        """Serve `data` for `file_id` through getFile and the file URL."""
        self.files[file_id] = data

    def fail_next(self, method: str, error: InjectedError, *, times: int = 1, after: int = 0) -> None:
        """Answer the next `times` calls of `method` with `error`, once `after` calls have succeeded."""
        queue = self._errors.setdefault(method, [])
        for _ in range(times):
            queue.append((after, error))

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every call of `method`, oldest first (failed calls included)."""
        return [call.params for call in self.calls if call.method == method]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """The texts of the sendMessage calls that succeeded (to `chat_id` if given)."""
        return [
            str(call.params["text"])
            for call in self.calls
            if call.method == "sendMessage"
            and call.returned
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    async def wait_for(self, method: str, count: int = 1, *, succeeded: bool = False) -> list[dict[str, Any]]:
        """Wait until `method` was called `count` times (successfully, if asked); returns the calls."""

        def calls() -> list[dict[str, Any]]:
            return [
                call.params
                for call in self.calls
                if call.method == method and (call.returned or not succeeded)
            ]

        await until(lambda: len(calls()) >= count, f"{count} call(s) of {method}")
        return calls()

    async def wait_for_sent(self, count: int) -> None:
        """Wait until `count` sendMessage calls have succeeded, woken by each one (no polling: a
        benchmark's wait must not cost in proportion to the calls received)."""
        while self._sent_count < count:
            self._sent_more.clear()
            await self._sent_more.wait()

    # --- the server --------------------------------------------------------------------------------

    def app(self) -> Starlette:
        """The ASGI application serving the Bot API."""
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
                Route("/_fake/calls/{method}", self._calls_json, methods=["GET"]),
            ]
        )

    async def _calls_json(self, request: Request) -> Response:
        method = request.path_params["method"]
        return JSONResponse(
            [
                {"params": call.params, "at": call.at, "returned": call.returned}
                for call in self.calls
                if call.method == method
            ]
        )

    async def _api(self, request: Request) -> Response:
        token, method = request.path_params["token"], request.path_params["method"]
        if token != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        call = ApiCall(method, await _parameters(request), time.perf_counter())
        self.calls.append(call)
        error = self._injected_error(method)
        if error is not None:
            return error.response()
        handler = self._handlers().get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        return await handler(call)

    def _handlers(self) -> dict[str, Callable[[ApiCall], Awaitable[Response]]]:
        return {
            "getMe": self._get_me,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "sendChatAction": self._true,
            "answerCallbackQuery": self._true,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
        }

    def _injected_error(self, method: str) -> InjectedError | None:
        queue = self._errors.get(method)
        if not queue:
            return None
        after, error = queue[0]
        if after > 0:
            queue[0] = (after - 1, error)
            return None
        queue.pop(0)
        return error

    async def _get_me(self, call: ApiCall) -> Response:
        return _ok(self.bot_user)

    async def _true(self, call: ApiCall) -> Response:
        return _ok(True)

    async def _delete_webhook(self, call: ApiCall) -> Response:
        self.webhook = None
        return _ok(True)

    async def _set_webhook(self, call: ApiCall) -> Response:
        self.webhook = dict(call.params)
        return _ok(True)

    async def _get_webhook_info(self, call: ApiCall) -> Response:
        url = self.webhook["url"] if self.webhook else ""
        return _ok({"url": url, "has_custom_certificate": False, "pending_update_count": 0})

    async def _set_my_commands(self, call: ApiCall) -> Response:
        self.commands = list(call.params.get("commands", []))
        return _ok(True)

    async def _get_my_commands(self, call: ApiCall) -> Response:
        return _ok(self.commands)

    async def _get_updates(self, call: ApiCall) -> Response:
        if self.webhook is not None:
            return JSONResponse(
                {
                    "ok": False,
                    "error_code": 409,
                    "description": "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                },
                status_code=409,
            )
        offset = int(call.params.get("offset") or 0)
        if offset:  # like Telegram: asking from `offset` confirms every update before it
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        timeout = min(float(call.params.get("timeout") or 0), self.max_poll_wait)
        if not self.pending_updates and timeout > 0:
            self._arrived.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        limit = int(call.params.get("limit") or 100)
        batch = self.pending_updates[:limit]
        call.returned = len(batch)
        return _ok(batch)

    async def _send_message(self, call: ApiCall) -> Response:
        chat_id = call.params["chat_id"]
        self._next_message_id += 1
        chat: dict[str, Any] = {"id": chat_id, "type": "private"}
        if isinstance(chat_id, int) and chat_id < 0:
            chat = {"id": chat_id, "type": "supergroup", "title": "A group"}
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "text": call.params["text"],
        }
        if "reply_markup" in call.params:
            message["reply_markup"] = call.params["reply_markup"]
        call.returned = 1
        self._sent_count += 1
        self._sent_more.set()
        return _ok(message)

    async def _send_document(self, call: ApiCall) -> Response:
        upload = call.params.get("document")
        if not isinstance(upload, dict):
            return _error(400, "Bad Request: there is no document in the request")
        self._next_message_id += 1
        call.returned = 1
        document = {
            "file_id": f"document-{self._next_message_id}",
            "file_unique_id": f"unique-{self._next_message_id}",
            "file_name": upload["filename"],
            "file_size": len(upload["data"]),
        }
        chat = {"id": call.params["chat_id"], "type": "private"}
        return _ok(
            {
                "message_id": self._next_message_id,
                "date": int(time.time()),
                "chat": chat,
                "document": document,
            }
        )

    async def _get_file(self, call: ApiCall) -> Response:
        file_id = str(call.params.get("file_id"))
        if file_id in self.too_big_files:
            return _error(400, "Bad Request: file is too big")
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"unique-{file_id[:8]}",
                "file_size": len(self.files[file_id]),
                "file_path": f"documents/{file_id}.bin",
            }
        )

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=404)
        path = str(request.path_params["file_path"])
        file_id = path.removeprefix("documents/").removesuffix(".bin")
        if file_id not in self.files:
            return Response(status_code=404)
        self.calls.append(ApiCall("download", {"file_path": path}, time.perf_counter(), 1))
        return Response(self.files[file_id], media_type="application/octet-stream")


async def _parameters(request: Request) -> dict[str, Any]:
    """The call's parameters: PTB posts forms whose structured values are JSON strings."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        loaded: dict[str, Any] = json.loads(body) if body else {}
        return loaded
    form = await request.form()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):  # an uploaded file (multipart): its name and bytes (as Latin-1)
            params[key] = {"filename": value.filename, "data": (await value.read()).decode("latin-1")}
            continue
        text = value
        if key in _JSON_PARAMETERS:
            params[key] = json.loads(text)
        elif key in _INT_PARAMETERS and _is_int(text):
            params[key] = int(text)
        else:
            params[key] = text
    await form.close()
    return params


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": code, "description": description}, status_code=code)


def load_payload(name: str) -> dict[str, Any]:
    """A real Update from `../shared/fixtures/payloads/telegram/`.

    Skips the calling test when a clone has no `../shared`; feature tests use `tests.support.payloads`.
    """
    loaded: dict[str, Any] = json.loads(shared_fixture("payloads", "telegram", name).read_text())
    return loaded


@asynccontextmanager
async def run_fake_telegram(**knobs: Any) -> AsyncIterator[FakeTelegram]:
    """Serve a `FakeTelegram(**knobs)` on an ephemeral loopback port; yields it with `.url` set."""
    fake = FakeTelegram(**knobs)
    async with serve_asgi(fake.app(), lifespan="off") as url:
        fake.url = url
        yield fake

"""python-telegram-bot's HTTP layer over aiohttp: the same Bot API calls for a fraction of the CPU.

`Bot` talks to Telegram through a `BaseRequest`; the library's own is `HTTPXRequest`. Profiling the
outbox's sends showed most of a send's client CPU inside httpcore's pool bookkeeping, anyio and h11;
aiohttp (C-accelerated HTTP parser, already a dependency) does the same request for much less. Only the
transport changes: status codes still become PTB's errors in `BaseRequest` (429 `RetryAfter`,
403 `Forbidden`, 400 `BadRequest`...), and `channels.telegram.errors` maps those as before.

Calls without files are posted as a JSON body (the Bot API accepts `application/json` for every method
that uploads nothing); uploads go as multipart/form-data like PTB's own request. Proxies come from the
environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), as httpx read them; they are read
once per host, not on every call (aiohttp's `trust_env` looks them and `~/.netrc` up in a thread per
request, which cost more CPU than the request itself).
"""

from __future__ import annotations

import functools
import json
import urllib.request
from typing import Any

import aiohttp
import yarl
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# PTB's HTTPXRequest defaults, so switching transports changes no behaviour but the CPU it costs.
CONNECTION_POOL_SIZE = 256
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
MEDIA_WRITE_TIMEOUT = 20.0
# An idle connection is dropped after this long. A request sent on a connection the server closes at
# that very moment fails ("Server disconnected"); servers commonly close idle ones after 5 s (uvicorn,
# httpx's own expiry), so we let go of them first.
KEEPALIVE_SECONDS = 4.0
_JSON = {"Content-Type": "application/json", "User-Agent": BaseRequest.USER_AGENT}
_PLAIN = {"User-Agent": BaseRequest.USER_AGENT}


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` over one `aiohttp.ClientSession` with a pool of keep-alive connections.

    The timeouts mean what HTTPXRequest's mean: waiting for a free pooled connection (`pool`),
    opening one (`connect`), and waiting for the answer (`read`); aiohttp has no separate write
    timeout, so the write timeout bounds the whole call together with the others.
    """

    __slots__ = (
        "_connect",
        "_media_write",
        "_pool",
        "_pool_size",
        "_proxies",
        "_read",
        "_session",
        "_shut_down",
        "_write",
    )

    def __init__(
        self,
        connection_pool_size: int = CONNECTION_POOL_SIZE,
        read_timeout: float | None = READ_TIMEOUT,
        write_timeout: float | None = WRITE_TIMEOUT,
        connect_timeout: float | None = CONNECT_TIMEOUT,
        pool_timeout: float | None = POOL_TIMEOUT,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._shut_down = False
        self._proxies: dict[tuple[str, str | None], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        """The read timeout used when a call does not name one."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (it must be made inside the running event loop)."""
        self._shut_down = False
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=self._pool_size, keepalive_timeout=KEEPALIVE_SECONDS
            )
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        self._shut_down = True

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One HTTP call: (status, body). Timeouts raise `TimedOut`, other failures `NetworkError`."""
        if self._shut_down:
            raise RuntimeError("This AiohttpRequest was shut down")
        if self._session is None:  # Bot methods work before `Bot.initialize`, as with HTTPXRequest
            await self.initialize()
        assert self._session is not None
        files = request_data is not None and request_data.contains_files
        timeout = self._timeout(
            read=_given(read_timeout, self._read),
            write=_given(write_timeout, self._media_write if files else self._write),
            connect=_given(connect_timeout, self._connect),
            pool=_given(pool_timeout, self._pool),
        )
        body, headers = _body(request_data)
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout, proxy=self._proxy(url)
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts derive from it
            raise TimedOut(f"Timed out: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    def _proxy(self, url: str) -> str | None:
        """The proxy the environment names for `url`'s host, if any (looked up once per host)."""
        scheme, _, rest = url.partition("://")
        origin = (scheme, rest.partition("/")[0])
        if origin not in self._proxies:
            self._proxies[origin] = _environment_proxy(yarl.URL(url))
        return self._proxies[origin]

    @staticmethod
    @functools.cache
    def _timeout(
        *, read: float | None, write: float | None, connect: float | None, pool: float | None
    ) -> aiohttp.ClientTimeout:
        # aiohttp's `connect` covers waiting for a pooled connection and opening a new one. Cached:
        # the same few combinations serve every call.
        acquire = None if connect is None or pool is None else connect + pool
        parts = (read, write, connect, pool)
        total = None if any(part is None for part in parts) else sum(p for p in parts if p is not None)
        return aiohttp.ClientTimeout(total=total, connect=acquire, sock_connect=connect, sock_read=read)


def _environment_proxy(url: yarl.URL) -> str | None:
    """`HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` for the URL's scheme, unless `NO_PROXY` exempts its host."""
    if url.host is None or urllib.request.proxy_bypass(url.host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(url.scheme) or proxies.get("all")


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """The timeout a call asked for, or this request's default when it named none."""
    return default if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> tuple[Any, dict[str, str]]:
    """The request body and headers: JSON without files, multipart/form-data with them."""
    if request_data is None:
        return None, _PLAIN
    if not request_data.contains_files:
        return json.dumps(request_data.parameters).encode(), _JSON
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        filename, content, mime = part[0], part[1], part[2] if len(part) > 2 else None
        form.add_field(name, content, filename=filename, content_type=mime)
    return form, _PLAIN

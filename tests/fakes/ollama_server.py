"""A fake Ollama server: the real HTTP API (`/api/tags`, `/api/chat`, `/api/embed`) on an ephemeral port.

Tests drive it with the real `ollama` client, so request and response shapes are checked for real:

    async with run_fake_ollama(reply="Sleep eight hours.", models=["llama3.1:8b"]) as server:
        generator = OllamaGenerator(server.url, "llama3.1:8b", first_token_timeout=1.0)
        ...
        assert server.chat_requests[0]["messages"][0]["role"] == "system"

Knobs can also be changed on the yielded object while it runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.asgi_server import serve_asgi

Messages = list[dict[str, Any]]
ReplySource = str | Callable[[Messages], str]


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    body: dict[str, Any]


@dataclass
class FakeOllama:
    """The fake server's behaviour (the knobs) and what it has received.

    `reply` is the assistant's text, or a function of the chat messages returning it. The reply is
    streamed one word per chunk, like tokens. `delay_before_first_token` holds back the first chunk (a
    model loading); `delay_between_tokens` spaces the rest; `error_after_tokens` makes the stream fail
    with Ollama's in-stream `{"error": ...}` line after that many chunks; `drop_after_tokens` makes the
    server drop the connection after that many chunks (a crashed or restarted server), with no
    `done` line and no end of the chunked body.
    """

    reply: ReplySource = "Hello from the fake model."
    models: Sequence[str] = ("llama3.1:8b",)
    delay_before_first_token: float = 0.0
    delay_between_tokens: float = 0.0
    error_after_tokens: int | None = None
    drop_after_tokens: int | None = None
    embedding_dim: int = 32
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""
    # Set when the server stops, so handlers still "thinking" end at once instead of holding shutdown.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The bodies of the `/api/chat` requests received, oldest first."""
        return [recorded.body for recorded in self.requests if recorded.path == "/api/chat"]

    def app(self) -> Starlette:
        """The ASGI application serving the Ollama API."""
        return Starlette(
            routes=[
                Route("/api/tags", self._tags, methods=["GET"]),
                Route("/api/chat", self._chat, methods=["POST"]),
                Route("/api/embed", self._embed, methods=["POST"]),
                Route("/api/version", self._version, methods=["GET"]),
            ]
        )

    def has_model(self, name: str) -> bool:
        """Whether `name` is served; like Ollama, a name without a tag means `name:latest`."""
        return _with_tag(name) in {_with_tag(model) for model in self.models}

    async def _record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        body: dict[str, Any] = json.loads(raw) if raw else {}
        self.requests.append(RecordedRequest(request.method, request.url.path, body))
        return body

    async def _tags(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"models": [_tag_entry(model) for model in self.models]})

    async def _version(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"version": "0.6.3-fake"})

    async def _chat(self, request: Request) -> Response:
        body = await self._record(request)
        model = str(body.get("model", ""))
        if not self.has_model(model):
            return JSONResponse({"error": f"model '{model}' not found"}, status_code=404)
        text = self.reply(body.get("messages", [])) if callable(self.reply) else self.reply
        if body.get("stream", True):
            return StreamingResponse(self._chat_stream(model, text), media_type="application/x-ndjson")
        if not await self._pause(self.delay_before_first_token):
            return Response(status_code=503)
        return JSONResponse(_chat_chunk(model, text) | _final_fields(text))

    async def _chat_stream(self, model: str, text: str) -> AsyncIterator[bytes]:
        if not await self._pause(self.delay_before_first_token):
            return
        for index, token in enumerate(re.findall(r"\S+\s*", text)):
            if self.error_after_tokens is not None and index >= self.error_after_tokens:
                yield _line({"error": "an error was encountered while running the model"})
                return
            if self.drop_after_tokens is not None and index >= self.drop_after_tokens:
                # uvicorn closes the connection mid-body when a streaming response raises.
                raise ConnectionDroppedError("the fake model server went away mid-answer")
            if index and not await self._pause(self.delay_between_tokens):
                return
            yield _line(_chat_chunk(model, token) | {"done": False})
        yield _line(_chat_chunk(model, "") | _final_fields(text))

    async def _embed(self, request: Request) -> Response:
        body = await self._record(request)
        model = str(body.get("model", ""))
        if not self.has_model(model):
            return JSONResponse({"error": f"model '{model}' not found"}, status_code=404)
        inputs = body.get("input", "")
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        return JSONResponse(
            {
                "model": model,
                "embeddings": [fake_embedding(text, self.embedding_dim) for text in texts],
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": sum(len(text.split()) for text in texts),
            }
        )

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds`; False if the server began stopping meanwhile."""
        if seconds <= 0:
            return True
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        return not self.stopping.is_set()


class ConnectionDroppedError(Exception):
    """Raised inside the fake's stream to make uvicorn drop the connection mid-answer."""


def fake_embedding(text: str, dim: int = 32) -> list[float]:
    """A deterministic unit vector from hashed words, so texts sharing words are near each other."""
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()) or [""]:
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dim] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


@asynccontextmanager
async def run_fake_ollama(**knobs: Any) -> AsyncIterator[FakeOllama]:
    """Serve a `FakeOllama(**knobs)` on an ephemeral loopback port; yields it with `.url` set."""
    fake = FakeOllama(**knobs)
    async with serve_asgi(fake.app(), lifespan="off") as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.stopping.set()  # end held-back requests at once, so shutdown does not wait for them


def _with_tag(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _line(payload: dict[str, Any]) -> bytes:
    return (json.dumps(payload) + "\n").encode()


def _chat_chunk(model: str, content: str) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
    }


def _final_fields(text: str) -> dict[str, Any]:
    tokens = len(text.split())
    return {
        "done": True,
        "done_reason": "stop",
        "total_duration": 5_000_000 + tokens * 1_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 2_000_000,
        "eval_count": tokens,
        "eval_duration": tokens * 1_000_000,
    }


def _tag_entry(model: str) -> dict[str, Any]:
    name = _with_tag(model)
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-01-01T00:00:00Z",
        "size": 4_920_753_328,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "8.0B",
            "quantization_level": "Q4_K_M",
        },
    }

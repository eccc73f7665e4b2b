"""Embeddings from a model served by Ollama (`/api/embed`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx
import ollama
import pydantic

from coaching.embeddings.interface import EmbeddingsUnavailable, normalise
from coaching.status import ComponentStatus

# What a misbehaving Ollama (or something else on its port) can make the client raise.
_OLLAMA_ERRORS: tuple[type[BaseException], ...] = (
    ollama.ResponseError,
    httpx.HTTPError,
    ConnectionError,
    TimeoutError,
    json.JSONDecodeError,
    pydantic.ValidationError,
)


class OllamaEmbedder:
    """Embeddings from a model served by Ollama (`/api/embed`); the dimension is learnt on the first call."""

    def __init__(self, url: str, model: str, *, timeout: float = 60.0, check_timeout: float = 2.0) -> None:
        self.url = url
        self.model = model
        self.name = f"ollama:{model}"
        self.dimension = 0  # unknown until Ollama has answered once
        self.check_timeout = check_timeout
        self._client = ollama.AsyncClient(host=url, timeout=httpx.Timeout(timeout, connect=check_timeout))

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors from Ollama; raises `EmbeddingsUnavailable` when it cannot answer."""
        if not texts:
            return []
        try:
            response = await self._client.embed(model=self.model, input=list(texts))
        except _OLLAMA_ERRORS as exc:
            raise EmbeddingsUnavailable(self._failure(exc)) from exc
        vectors = [normalise(vector) for vector in response.embeddings]
        if len(vectors) != len(texts) or len({len(vector) for vector in vectors}) != 1:
            raise EmbeddingsUnavailable(
                f"Ollama model {self.model} returned {len(vectors)} embeddings of uneven or missing size "
                f"for {len(texts)} texts"
            )
        self.dimension = len(vectors[0])
        return vectors

    async def check(self) -> ComponentStatus:
        """Embed one word within `check_timeout` seconds."""
        try:
            async with asyncio.timeout(self.check_timeout):
                await self.embed(["ping"])
        except TimeoutError:
            return ComponentStatus(
                "off", f"Ollama at {self.url} did not answer within {self.check_timeout:g} s"
            )
        except EmbeddingsUnavailable as exc:
            return ComponentStatus("off", str(exc))
        return ComponentStatus(
            "real", f"Ollama at {self.url}, model {self.model} ({self.dimension} dimensions)"
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()  # type: ignore[no-untyped-call]  # ollama leaves close() unannotated

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404:
                return (
                    f"embedding model {self.model} is not pulled on Ollama at {self.url}; "
                    f"run `ollama pull {self.model}`"
                )
            return f"Ollama at {self.url} failed to embed: HTTP {exc.status_code}: {exc.error}"
        if isinstance(exc, ConnectionError | httpx.ConnectError):
            # ollama's own ConnectionError message is a download advertisement; say what happened instead.
            return f"Ollama at {self.url} did not answer (connection refused or host unreachable)"
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return f"Ollama at {self.url} did not answer in time"
        if isinstance(exc, httpx.HTTPError):
            return f"Ollama at {self.url} failed to embed ({type(exc).__name__}: {exc})"
        return f"Ollama at {self.url} sent a malformed embedding response ({type(exc).__name__})"

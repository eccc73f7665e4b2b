"""Reply generators: the Ollama model, an offline extractive generator, and the fallback between them.

`build_generator(settings)` picks one from `COACH_LLM`. With `auto` (and `ollama`) replies come from
Ollama while it answers in time, and from the offline generator when it does not, so a user always
gets a reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
import ollama
import pydantic

from coaching.generation import ContextPassage, Generation, GenerationRequest, Generator
from coaching.offline import OfflineGenerator
from coaching.status import ComponentStatus
from config.settings import LLMMode, Settings

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

CHECK_TIMEOUT_SECONDS = 2.0
# Appended when the model stops mid-answer: the start is already with the person, so it is not
# replaced; they are told plainly that the rest is missing.
CUT_SHORT_NOTICE = (
    "\n\n(My answer was cut off here: the model stopped before finishing. Ask again and I'll try once more.)"
)


class GeneratorUnavailable(Exception):  # noqa: N818 - the name the rest of the project uses
    """The generator cannot answer now: timeout, connection or HTTP error, or the model is missing."""


class FirstTokenTimeout(GeneratorUnavailable):
    """The model sent no token within the first-token limit (`COACH_LLM_FIRST_TOKEN_TIMEOUT`)."""


# Everything a primary generator may raise that means "answer some other way", not "a bug".
FALLBACK_ERRORS: tuple[type[BaseException], ...] = (
    GeneratorUnavailable,
    TimeoutError,  # asyncio.TimeoutError is the same class since Python 3.11
    httpx.HTTPError,
    ollama.ResponseError,
    ConnectionError,
)
# What a misbehaving Ollama (or something else on its port) can make the client raise.
_OLLAMA_ERRORS: tuple[type[BaseException], ...] = (
    *FALLBACK_ERRORS,
    json.JSONDecodeError,
    pydantic.ValidationError,
)


# --------------------------------------------------------------------------------------------------
# Ollama


def build_chat_messages(request: GenerationRequest) -> list[dict[str, str]]:
    """The chat messages for a request: system prompt (with numbered context), history, the question."""
    messages = [{"role": "system", "content": _system_prompt(request)}]
    messages.extend({"role": turn.role, "content": turn.text} for turn in request.history)
    messages.append({"role": "user", "content": request.question})
    return messages


def _system_prompt(request: GenerationRequest) -> str:
    parts = [request.persona.system_prompt.strip()]
    if request.context:
        parts.append(
            f"Answer only from the numbered passages of {request.persona.creator_name}'s materials below, "
            "and cite the passages you use as [n]. If they do not answer the question, say so instead of "
            "guessing.\n\n" + format_context(request.context)
        )
    if request.max_chars:
        parts.append(f"Keep the answer concise: under {request.max_chars} characters.")
    return "\n\n".join(part for part in parts if part)


def format_context(context: Sequence[ContextPassage]) -> str:
    """The passages as the model sees them: `[1] text (document, location)`, one per paragraph."""
    return "\n\n".join(
        f"[{number}] {passage.text.strip()} ({passage.source.document}, {passage.source.location})"
        for number, passage in enumerate(context, start=1)
    )


def model_is_listed(model: str, listed: Iterable[str]) -> bool:
    """Whether `model` is among the listed tags; a name without a tag means `name:latest`, as in Ollama."""
    wanted = _with_tag(model)
    return any(_with_tag(name) == wanted for name in listed)


def _with_tag(name: str) -> str:
    last_part = name.rsplit("/", 1)[-1]
    return name if ":" in last_part else f"{name}:latest"


class OllamaGenerator:
    """Replies from a model served by Ollama, streamed, with a deadline for the first token and the whole."""

    name = "ollama"

    def __init__(
        self,
        url: str,
        model: str,
        first_token_timeout: float,
        total_timeout: float = 120.0,
        *,
        check_timeout: float = CHECK_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.model = model
        self.first_token_timeout = first_token_timeout
        self.total_timeout = max(total_timeout, first_token_timeout)
        self.check_timeout = check_timeout
        # httpx's own timeouts are only a backstop; the deadlines that matter are enforced per token below.
        self._client = ollama.AsyncClient(
            host=url, timeout=httpx.Timeout(self.total_timeout, connect=first_token_timeout)
        )

    async def generate(self, request: GenerationRequest) -> Generation:
        """The whole reply, collected from the stream so the same deadlines apply."""
        pieces = [piece async for piece in self.stream(request)]
        text = "".join(pieces).strip()
        if not text:
            raise GeneratorUnavailable(f"Ollama model {self.model} returned an empty reply")
        return Generation(text=text, generator=self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """The reply's content pieces as the model produces them; raises `GeneratorUnavailable`."""
        loop = asyncio.get_running_loop()
        total_deadline = loop.time() + self.total_timeout
        first_deadline = min(loop.time() + self.first_token_timeout, total_deadline)
        started = done = False
        try:
            chunks = await self._client.chat(
                model=self.model, messages=build_chat_messages(request), stream=True
            )
            async with _closing(chunks):
                while True:
                    # Only the wait for the next chunk is timed, never the consumer's work between pieces.
                    async with asyncio.timeout_at(total_deadline if started else first_deadline):
                        chunk = await anext(chunks, None)
                    if chunk is None:
                        if started and not done:
                            # The stream ended without Ollama's final `done` line: it was cut off.
                            raise GeneratorUnavailable(
                                f"Ollama model {self.model} stopped before finishing its answer"
                            )
                        return
                    done = done or bool(chunk.done)
                    # Thinking tokens also prove the model is running, so they end the first-token wait.
                    started = started or bool(chunk.message.content or chunk.message.thinking)
                    if chunk.message.content:
                        yield chunk.message.content
        except TimeoutError as exc:
            if not started:
                raise FirstTokenTimeout(self._timeout_reason(started)) from exc
            raise GeneratorUnavailable(self._timeout_reason(started)) from exc
        except _OLLAMA_ERRORS as exc:
            raise GeneratorUnavailable(self._failure_reason(exc)) from exc

    async def check(self) -> ComponentStatus:
        """Ask Ollama which models it has (`/api/tags`), within `check_timeout` seconds."""
        try:
            async with asyncio.timeout(self.check_timeout):
                listing = await self._client.list()
        except TimeoutError:
            return self._unreachable(f"no answer within {self.check_timeout:g} s")
        except _OLLAMA_ERRORS as exc:
            return self._unreachable(describe_error(exc))
        names = [entry.model for entry in listing.models if entry.model]
        if model_is_listed(self.model, names):
            return ComponentStatus("real", f"Ollama at {self.url}, model {self.model}")
        return ComponentStatus(
            "degraded",
            f"Ollama at {self.url} answers, but model {self.model} is not pulled; "
            f"run `ollama pull {self.model}`",
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()  # type: ignore[no-untyped-call]  # ollama leaves close() unannotated

    def _unreachable(self, reason: str) -> ComponentStatus:
        return ComponentStatus("degraded", f"Ollama at {self.url} did not answer ({reason})")

    def _timeout_reason(self, started: bool) -> str:
        if started:
            return f"Ollama model {self.model} did not finish its answer within {self.total_timeout:g} s"
        return f"Ollama model {self.model} sent no token within {self.first_token_timeout:g} s"

    def _failure_reason(self, exc: BaseException) -> str:
        if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
            return f"model {self.model} is not pulled on Ollama at {self.url}; run `ollama pull {self.model}`"
        return f"Ollama at {self.url} failed: {describe_error(exc)}"


def describe_error(exc: BaseException) -> str:
    """A short human reason for a failed call, for logs and health details."""
    if isinstance(exc, GeneratorUnavailable):
        return str(exc)
    if isinstance(exc, ollama.ResponseError):
        return f"HTTP {exc.status_code}: {exc.error}" if exc.status_code > 0 else str(exc.error)
    if isinstance(exc, ConnectionError | httpx.ConnectError):
        # ollama's own ConnectionError message is a download advertisement; say what happened instead.
        return "connection refused or host unreachable"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timed out"
    if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
        return "malformed response"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@asynccontextmanager
async def _closing(iterator: AsyncIterator[_T]) -> AsyncIterator[AsyncIterator[_T]]:
    """Close an async generator when the block ends, so an abandoned stream frees its connection now."""
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


# --------------------------------------------------------------------------------------------------
# Fallback


class FallbackGenerator:
    """Uses `primary`, and `fallback` whenever the primary is unavailable.

    After a failure the primary is left alone for `recheck_interval` seconds, so users do not each wait
    for a timeout; then the next request probes it again (one at a time: the others keep using the
    fallback until the probe succeeds).
    """

    def __init__(
        self,
        primary: Generator,
        fallback: Generator,
        recheck_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        unavailable_prefix: str = "offline: ",
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.recheck_interval = recheck_interval
        self.unavailable_prefix = unavailable_prefix
        self.name = f"{primary.name}+{fallback.name}"
        self._clock = clock
        self._down_since: float | None = None
        self._down_reason = ""
        self._down_by_call = False  # a real reply failed, not just the listing
        # Answers that came from the fallback because the primary sent no first token in time.
        self.first_token_fallbacks = 0

    @property
    def using_fallback(self) -> bool:
        """Whether the last check or call found the primary unavailable (and none has succeeded since)."""
        return self._down_since is not None

    async def generate(self, request: GenerationRequest) -> Generation:
        """The primary's reply, or the fallback's with `fallback_reason` saying why."""
        if not self._should_try_primary():
            logger.debug("answering from %s: %s", self.fallback.name, self._skip_reason())
            return await self._from_fallback(request, self._skip_reason())
        try:
            generation = await self.primary.generate(request)
        except FALLBACK_ERRORS as exc:
            reason = self._mark_down(exc)
            logger.warning(
                "%s unavailable, answering from %s: %s", self.primary.name, self.fallback.name, reason
            )
            return await self._from_fallback(request, reason)
        self._mark_up()
        return generation

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """The primary's pieces; the fallback's only if the primary fails before its first piece.

        A failure after some pieces were sent ends the stream with `CUT_SHORT_NOTICE`: those pieces are
        already with the user, and restarting with a different answer would repeat and contradict them,
        so the person is told plainly that the answer was cut.
        """
        if not self._should_try_primary():
            logger.debug("answering from %s: %s", self.fallback.name, self._skip_reason())
            async for piece in self._fallback_stream(request):
                yield piece
            return
        sent_any = False
        try:
            async with _closing(self.primary.stream(request)) as pieces:
                async for piece in pieces:
                    sent_any = True
                    yield piece
        except FALLBACK_ERRORS as exc:
            reason = self._mark_down(exc)
            if sent_any:
                logger.warning("%s failed mid-answer, saying it was cut short: %s", self.primary.name, reason)
                yield CUT_SHORT_NOTICE
                return
            logger.warning(
                "%s unavailable, answering from %s: %s", self.primary.name, self.fallback.name, reason
            )
            async for piece in self._fallback_stream(request):
                yield piece
            return
        self._mark_up()

    async def check(self) -> ComponentStatus:
        """The primary's status when real; otherwise degraded, saying replies come from the fallback.

        Either way it says how many answers fell back because the model sent no first token in time.
        """
        status = await self._check()
        if not self.first_token_fallbacks:
            return status
        limit = getattr(self.primary, "first_token_timeout", None)
        within = (
            f" within {limit:g} s (COACH_LLM_FIRST_TOKEN_TIMEOUT)" if isinstance(limit, int | float) else ""
        )
        return ComponentStatus(
            status.state,
            f"{status.detail}; {self.first_token_fallbacks} answers fell back to the {self.fallback.name} "
            f"generator because the model sent no first token{within}",
        )

    async def _check(self) -> ComponentStatus:
        """The status without the fallback count."""
        try:
            status = await self.primary.check()
        except FALLBACK_ERRORS as exc:
            status = ComponentStatus("degraded", describe_error(exc))
        if status.state == "real":
            if self._down_by_call and self._down_since is not None:
                # The server lists the model, yet a reply just failed (too slow, crashed): until the
                # next probe succeeds, replies really do come from the fallback, so say so.
                return ComponentStatus(
                    "degraded",
                    f"{self.unavailable_prefix}{status.detail}, but its last reply failed ({self._down_reason}); "
                    f"replies come from the {self.fallback.name} generator until it answers again",
                )
            self._mark_up()
            return status
        self._set_down(status.detail)
        self._down_by_call = False
        return ComponentStatus(
            "degraded",
            f"{self.unavailable_prefix}{status.detail}; replies come from the {self.fallback.name} generator",
        )

    async def aclose(self) -> None:
        """Close both generators."""
        try:
            await self.primary.aclose()
        finally:
            await self.fallback.aclose()

    def _should_try_primary(self) -> bool:
        if self._down_since is None:
            return True
        now = self._clock()
        if now - self._down_since < self.recheck_interval:
            return False
        # This request probes the primary; restart the interval so concurrent requests do not pile on.
        self._down_since = now
        return True

    def _skip_reason(self) -> str:
        return (
            f"{self.primary.name} unavailable ({self._down_reason}); "
            f"trying it again every {self.recheck_interval:g} s"
        )

    async def _from_fallback(self, request: GenerationRequest, reason: str) -> Generation:
        generation = await self.fallback.generate(request)
        return Generation(text=generation.text, generator=self.fallback.name, fallback_reason=reason)

    async def _fallback_stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        async with _closing(self.fallback.stream(request)) as pieces:
            async for piece in pieces:
                yield piece

    def _mark_down(self, exc: BaseException) -> str:
        if isinstance(exc, FirstTokenTimeout):
            self.first_token_fallbacks += 1
        reason = describe_error(exc)
        self._set_down(reason)
        self._down_by_call = True
        return reason

    def _set_down(self, reason: str) -> None:
        self._down_since = self._clock()
        self._down_reason = reason

    def _mark_up(self) -> None:
        if self._down_since is not None:
            logger.info("%s is answering again", self.primary.name)
        self._down_since = None
        self._down_reason = ""
        self._down_by_call = False


def build_generator(settings: Settings) -> Generator:
    """The generator `COACH_LLM` asks for: offline only, or Ollama with the offline generator behind it.

    `ollama` behaves like `auto` (users still get replies when the server is away), but its health
    detail says plainly that the configured model is not being used.
    """
    if settings.llm == LLMMode.OFFLINE:
        return OfflineGenerator()
    primary = OllamaGenerator(
        settings.ollama_url,
        settings.ollama_model,
        first_token_timeout=settings.llm_first_token_timeout,
        total_timeout=settings.llm_first_token_timeout + max(60.0, 6 * settings.llm_timeout),
    )
    prefix = "COACH_LLM=ollama but " if settings.llm == LLMMode.OLLAMA else "offline: "
    return FallbackGenerator(primary, OfflineGenerator(), unavailable_prefix=prefix)

"""Where a reply's time goes: wall time in each named part of the coaching side, per reply, measured by
wrapping the running service's own methods (nothing in the product is changed for it).

The parts overlap where the code runs them together (the vector and the lexical queries run side by
side inside search, search inside retrieval): each is its own measure, not a slice of a sum. What is
left of the reply once the responder's parts are taken out is the message path's: inbox, dispatch,
identity and history, the reply stream, outbox and channel, and the responder's own glue.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bench.stats import percentile
from bot.runtime import Coachline

# (part, the object's path from the service, the method), in table order. A part may name several
# methods, so that code before and after a change (`query` then `nearest`) is measured alike.
COACHING_PARTS = (
    ("query embedding (cache)", "knowledge.query_vectors", "embed"),
    ("search: vector query (Chroma)", "knowledge.store", "query"),
    ("search: vector query (Chroma)", "knowledge.store", "nearest"),
    ("search: chunk reads (Chroma get)", "knowledge.store", "get"),
    ("search: lexical (FTS5 bm25)", "knowledge.lexicon", "search"),
    ("search: ready documents", "knowledge", "_ready_among"),
    ("search in all", "knowledge", "search"),
    ("search in all", "knowledge", "_search"),
    ("sentence store reads", "knowledge.sentences", "fetch"),
    ("retrieval in all (search + sentences)", "knowledge", "retrieve"),
    ("answer judgement", "knowledge", "judge"),
    ("persona", "responder.personas", "persona"),
)
GENERATION = "generation (scripted)"
RESPONDER = "responder in all"
MESSAGE_PATH = "message path (reply − responder's parts)"
# The message path's own parts (its methods may change: a part not found is left out).
DISPATCH = "path: dispatcher in all (with the responder)"
PATH_PARTS = (
    (DISPATCH, "dispatcher", "process"),
    ("path: sender and conversation", "dispatcher", "_identify"),
    ("path: replies committed to the outbox", "dispatcher", "_complete"),
)
OUTSIDE = "path: outside the dispatcher (inbox, outbox, channel)"


class ReplyBreakdown:
    """Wall time per part and reply: `begin()` before a reply, `end(total)` after it."""

    def __init__(self) -> None:
        self._current: dict[str, float] = defaultdict(float)
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.active = False

    def attach(self, service: Coachline) -> None:
        """Wrap the service's coaching methods (those present: a part the code lacks is left out)."""
        for part, path, method in COACHING_PARTS + PATH_PARTS:
            owner = _resolve(service, path)
            if owner is not None and hasattr(owner, method):
                setattr(owner, method, self._timed(part, getattr(owner, method)))
        responder = service.responder
        responder.answer = self._timed(RESPONDER, responder.answer)  # type: ignore[method-assign,assignment]
        # The stream only (the dispatcher streams replies): the scripted one calls `generate` inside it.
        generator = responder.generator
        generator.stream = self._timed_stream(GENERATION, generator.stream)  # type: ignore[method-assign]

    def begin(self) -> None:
        """A reply starts: its parts count from zero."""
        self._current.clear()
        self.active = True

    def end(self, total: float) -> None:
        """The reply took `total` seconds in all: record its parts, and the message path's remainder."""
        self.active = False
        for part in dict.fromkeys(part for part, _, _ in COACHING_PARTS):
            self.samples[part].append(self._current.get(part, 0.0))
        generation, responder = self._current.get(GENERATION, 0.0), self._current.get(RESPONDER, 0.0)
        self.samples[GENERATION].append(generation)
        self.samples[RESPONDER].append(responder)
        coaching = sum(
            self._current.get(part, 0.0)
            for part in ("retrieval in all (search + sentences)", "answer judgement", "persona")
        )
        self.samples[MESSAGE_PATH].append(total - coaching - generation)
        for part, _, _ in PATH_PARTS:
            if part in self._current:
                self.samples[part].append(self._current[part])
        if DISPATCH in self._current:
            self.samples[OUTSIDE].append(total - self._current[DISPATCH])

    def parts(self) -> list[str]:
        """The parts measured, in table order."""
        names = [
            *dict.fromkeys(part for part, _, _ in COACHING_PARTS),
            GENERATION,
            RESPONDER,
            MESSAGE_PATH,
            *(part for part, _, _ in PATH_PARTS),
            OUTSIDE,
        ]
        return [name for name in names if self.samples.get(name)]

    def percentile(self, part: str, fraction: float) -> float:
        """A percentile of one part's seconds per reply."""
        return percentile(self.samples[part], fraction)

    def _add(self, part: str, seconds: float) -> None:
        if self.active:
            self._current[part] += seconds

    def _timed(self, part: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self._add(part, time.perf_counter() - started)

        return timed

    def _timed_stream(
        self, part: str, method: Callable[..., AsyncIterator[str]]
    ) -> Callable[..., AsyncIterator[str]]:
        """Only the time inside the generator counts: what the consumer does with a piece is not its."""

        async def timed(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
            iterator = method(*args, **kwargs).__aiter__()
            while True:
                started = time.perf_counter()
                try:
                    piece = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                finally:
                    self._add(part, time.perf_counter() - started)
                yield piece

        return timed


def _resolve(service: Coachline, path: str) -> Any:
    owner: Any = service
    for name in path.split("."):
        owner = getattr(owner, name, None)
        if owner is None:
            return None
    return owner

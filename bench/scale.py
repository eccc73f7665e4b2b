"""One creator with many chunks: search and reply overhead, the first search after an upload, and memory,
at 1k, 10k and 100k chunks (20k in `--quick`), on real SQLite (FTS5) and embedded Chroma.

The model is taken out: the embedder returns a fixed random unit vector per text at once and the
generator is scripted, so every millisecond measured is Coachline's. Each figure comes with its
comparator from the same run: the first search after an upload against a steady search, and the
cost at each size against the cost at 1k (the growth).

    python -m bench.scale            # --quick: 1k, 10k, 20k
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.responder import TimedChannel, _ask
from bench.stats import Row, percentile
from bot.composition import build_service
from coaching.bulk_ingest import BatchFile, ingest_batch
from coaching.fake_generator import ScriptedGenerator
from coaching.knowledge_seam import PlainPersona
from coaching.status import ComponentStatus
from coaching.vector_store import ChromaVectorStore
from config import LLMMode, Settings
from tests.support.shared_fixtures import SHARED_FIXTURES

BOOK = SHARED_FIXTURES / "docs" / "as_a_man_thinketh_james_allen.txt"
CHUNKS_PER_DOCUMENT = 50
WORDS_PER_CHUNK = 140  # about 900 characters: one chunk each, as the chunker cuts them
DIMENSION = 384


class InstantEmbedder:
    """A stand-in for the model that costs nothing: a random unit vector per text, fixed per text."""

    name = "instant (model time excluded)"
    dimension = DIMENSION

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, the same for the same text."""
        vectors = []
        for text in texts:
            rng = random.Random(text)
            vector = [rng.gauss(0.0, 1.0) for _ in range(DIMENSION)]
            norm = sum(value * value for value in vector) ** 0.5
            vectors.append([value / norm for value in vector])
        return vectors

    async def check(self) -> ComponentStatus:
        """Always there."""
        return ComponentStatus("real", self.name)

    async def aclose(self) -> None:
        """Nothing to release."""


def _vocabulary() -> list[str]:
    """Words of a real book (so frequencies are natural), or made-up ones without the fixtures."""
    if BOOK.exists():
        words = BOOK.read_text(encoding="utf-8").lower().split()
        return [word.strip(".,;:!?\"'()") for word in words if word.strip(".,;:!?\"'()")]
    rng = random.Random(3)
    return [f"w{int(rng.paretovariate(1.1))}" for _ in range(20_000)]


def _document(rng: random.Random, vocabulary: list[str], number: int) -> BatchFile:
    paragraphs = [
        " ".join(rng.choice(vocabulary) for _ in range(WORDS_PER_CHUNK)) + "."
        for _ in range(CHUNKS_PER_DOCUMENT)
    ]
    return BatchFile(f"doc-{number}.txt", "\n\n".join(paragraphs).encode())


def _rss_mb() -> float:
    """Resident memory of this process now (Linux), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1024 / 1024


@dataclass
class SizeResult:
    """What one corpus size measured."""

    chunks: int
    search_p50: float
    search_p99: float
    reply_p50: float
    reply_p99: float
    first_after_upload: float
    steady: float
    rss_mb: float
    load_seconds: float


async def _measure(size: int, samples: int) -> SizeResult:
    rng = random.Random(size)
    vocabulary = _vocabulary()
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(_env_file=None, data_dir=Path(directory), api_key="bench", llm=LLMMode.OFFLINE)  # type: ignore[call-arg]
        service = build_service(
            settings,
            channels={"bench": TimedChannel()},
            generator=ScriptedGenerator(),
            embedder=InstantEmbedder(),
            vector_store=ChromaVectorStore.embedded(Path(directory) / "chroma"),
            poll_seconds=0.05,
        )
        await service.start()
        # The personality is out of this measure: its offline analyser is CPU work on the event loop
        # which, at 20k chunks on a busy machine, outlasted the database pool's 60 s timeout and
        # stopped the workers. Replies speak in the plain persona; no re-analysis is started.
        service.knowledge._listeners.clear()
        service.personality.persona = PlainPersona().persona  # type: ignore[method-assign]
        try:
            assert service.default_creator is not None
            creator = service.default_creator.id
            started = time.perf_counter()
            documents = max(1, size // CHUNKS_PER_DOCUMENT)
            for first in range(0, documents, 40):
                batch = [
                    _document(rng, vocabulary, number) for number in range(first, min(documents, first + 40))
                ]
                await ingest_batch(service.knowledge, creator, batch)
            load_seconds = time.perf_counter() - started
            questions = [" ".join(rng.choice(vocabulary) for _ in range(8)) + "?" for _ in range(samples)]
            await service.knowledge.search(creator, "warm up the caches", 5)
            search_times = []
            for question in questions:
                started = time.perf_counter()
                await service.knowledge.retrieve(creator, question, 5)
                search_times.append(time.perf_counter() - started)
            await _ask(service, "warm up")
            replies = [(await _ask(service, question))[1] for question in questions[: max(20, samples // 4)]]
            firsts = []
            for number in range(5):  # an upload, then the very next search
                document = _document(rng, vocabulary, 10_000_000 + number)
                await service.knowledge.ingest(creator, document.filename, document.data)
                started = time.perf_counter()
                await service.knowledge.search(creator, f"{uuid.uuid4().hex} {questions[number]}", 5)
                firsts.append(time.perf_counter() - started)
            rss = _rss_mb()
        finally:
            await service.stop()
    return SizeResult(
        chunks=size,
        search_p50=percentile(search_times, 0.5),
        search_p99=percentile(search_times, 0.99),
        reply_p50=percentile(replies, 0.5),
        reply_p99=percentile(replies, 0.99),
        first_after_upload=percentile(firsts, 0.5),
        steady=percentile(search_times, 0.5),
        rss_mb=rss,
        load_seconds=load_seconds,
    )


def _growth(results: list[SizeResult], value: str, unit: str = "ms", scale: float = 1000.0) -> str:
    return " / ".join(f"{getattr(result, value) * scale:.1f}" for result in results) + f" {unit}"


async def run(quick: bool) -> list[Row]:
    """Every size in turn (each in its own directory); rows with growth across sizes."""
    sizes = (1_000, 10_000, 20_000) if quick else (1_000, 10_000, 100_000)
    samples = 100 if quick else 300
    results = [await _measure(size, samples) for size in sizes]
    largest = results[-1]
    sizes_note = "at " + " / ".join(f"{result.chunks // 1000}k" for result in results) + " chunks"
    name = "one creator, many chunks (SQLite FTS5 + embedded Chroma)"
    return [
        Row(
            name, "search p50 (growth)", _growth(results, "search_p50"), sizes_note + ", model time excluded"
        ),
        Row(name, "search p99 (growth)", _growth(results, "search_p99"), sizes_note),
        Row(
            name, "reply overhead p50 (growth)", _growth(results, "reply_p50"), sizes_note + "; goal ≤ 15 ms"
        ),
        Row(
            name, "reply overhead p99 (growth)", _growth(results, "reply_p99"), sizes_note + "; goal ≤ 50 ms"
        ),
        Row(
            name,
            f"first search after an upload / steady, {largest.chunks // 1000}k",
            f"{largest.first_after_upload / largest.steady:.2f}",
            f"{largest.first_after_upload * 1000:.1f} vs {largest.steady * 1000:.1f} ms; goal ≤ 2",
        ),
        Row(
            name,
            "RSS (growth)",
            _growth(results, "rss_mb", "MB", 1.0),
            sizes_note + "; goal < 500 MB at 100k",
        ),
        Row(
            name,
            "loading the corpus (growth)",
            _growth(results, "load_seconds", "s", 1.0),
            "bulk ingestion, instant model",
        ),
    ]


def main() -> None:
    """`python -m bench.scale`: this table alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    for row in asyncio.run(run(parser.parse_args().quick)):
        print(f"{row.benchmark} | {row.measure} | {row.value} | {row.note}")


if __name__ == "__main__":
    main()

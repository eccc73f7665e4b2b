"""One creator with many chunks: search and reply overhead, the first search after an upload, and memory,
at 1k, 10k and 100k chunks (20k in `--quick`), on real SQLite (FTS5) and embedded Chroma.

Replies are timed for questions from people who wrote before, in turn; a reply to someone writing
for the first time (whose user, account and conversation are created then) is its own row.

The model is taken out: the embedder returns a fixed pseudo-random unit vector per text at once (the
corpus is built with these synthetic vectors, through the real bulk ingestion) and the generator is
scripted, so every millisecond measured is Coachline's. Each corpus is built in a child process and
measured in another, fresh one, so the RSS is that of an instance serving that corpus alone, not of
the one that loaded it (nor of one that served the smaller corpora before). Each figure comes with its comparator from the same run: the first search
after an upload against a steady search, and the cost at each size beside the cost at 1k (growth).

    python -m bench.scale            # --quick: 1k, 10k, 20k
    python -m bench.scale --corpus-dir /tmp/corpora   # keep the built corpora and reuse them
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.breakdown import ReplyBreakdown
from bench.responder import TimedChannel, _ask
from bench.stats import Row, percentile
from bot.composition import build_service
from bot.runtime import Coachline
from coaching.answerability import AnswerabilityModel
from coaching.bulk_ingest import BatchFile, ingest_batch
from coaching.embeddings import LocalMiniLMEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.knowledge_seam import PlainPersona
from coaching.status import ComponentStatus
from coaching.vector_store import ChromaVectorStore
from config import LLMMode, Settings
from tests.support.shared_fixtures import SHARED_FIXTURES

BOOK = SHARED_FIXTURES / "docs" / "as_a_man_thinketh_james_allen.txt"
CHUNKS_PER_DOCUMENT = 50
WORDS_PER_CHUNK = 130  # under the chunker's size: one chunk per paragraph
DOCUMENTS_PER_BATCH = 40
DIMENSION = 384
BUILT = "built"  # the marker a finished corpus directory holds (its chunk count)
PEOPLE = 10  # the people who wrote before whose questions the reply figures time, in turn
FIRST_MESSAGES = 20  # replies to people writing for the first time, timed apart


class InstantEmbedder:
    """A stand-in for the model that costs next to nothing: a pseudo-random unit vector per text."""

    name = "instant (model time excluded)"
    dimension = DIMENSION

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit vectors, one per text, drawn at once from a generator seeded by the texts (the same
        texts in the same call get the same vectors; a question asked again hits the query cache)."""
        digest = hashlib.blake2b(digest_size=8)
        for text in texts:
            digest.update(text.encode())
        matrix = np.random.default_rng(int.from_bytes(digest.digest(), "little")).standard_normal(
            (len(texts), DIMENSION), dtype=np.float32
        )
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        vectors: list[list[float]] = matrix.tolist()
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


def _paragraph(rng: random.Random, vocabulary: list[str]) -> str:
    """About `WORDS_PER_CHUNK` words in sentences of 6 to 18 words, as prose has them."""
    sentences, words = [], 0
    while words < WORDS_PER_CHUNK:
        length = rng.randint(6, 18)
        sentence = " ".join(rng.choice(vocabulary) for _ in range(length))
        sentences.append(sentence[:1].upper() + sentence[1:] + ".")
        words += length
    return " ".join(sentences)


def _document(rng: random.Random, vocabulary: list[str], number: int) -> BatchFile:
    paragraphs = [_paragraph(rng, vocabulary) for _ in range(CHUNKS_PER_DOCUMENT)]
    return BatchFile(f"doc-{number}.txt", "\n\n".join(paragraphs).encode())


def _rss_mb() -> float:
    """Resident memory of this process now (Linux), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1024 / 1024


@asynccontextmanager
async def _service(directory: Path) -> AsyncIterator[tuple[Coachline, str]]:
    """A started instance over the corpus in `directory`, and its default creator's id."""
    settings = Settings(_env_file=None, data_dir=directory, api_key="bench", llm=LLMMode.OFFLINE)  # type: ignore[call-arg]
    service = build_service(
        settings,
        channels={"bench": TimedChannel()},
        generator=ScriptedGenerator(),
        embedder=InstantEmbedder(),
        vector_store=ChromaVectorStore.embedded(directory / "chroma"),
        poll_seconds=0.05,
    )
    await service.start()
    # The personality is out of this measure: its offline analyser is CPU work on the event loop
    # which, at 20k chunks on a busy machine, outlasted the database pool's 60 s timeout and
    # stopped the workers. Replies speak in the plain persona; no re-analysis is started.
    service.knowledge._listeners.clear()
    service.personality.persona = PlainPersona().persona  # type: ignore[method-assign]
    # The answerability judgement as serving with the local model runs it (its model is calibrated
    # for MiniLM's vectors, so on synthetic ones its verdicts mean nothing, but its cost is real).
    service.knowledge.answer_model = AnswerabilityModel.load(LocalMiniLMEmbedder.name)
    try:
        assert service.default_creator is not None
        yield service, service.default_creator.id
    finally:
        await service.stop()


async def build(directory: Path, size: int) -> None:
    """Fill `directory` with one creator's corpus of about `size` chunks, through bulk ingestion."""
    rng = random.Random(size)
    vocabulary = _vocabulary()
    documents = max(1, size // CHUNKS_PER_DOCUMENT)
    async with _service(directory) as (service, creator):
        for first in range(0, documents, DOCUMENTS_PER_BATCH):
            batch = [
                _document(rng, vocabulary, number)
                for number in range(first, min(documents, first + DOCUMENTS_PER_BATCH))
            ]
            await ingest_batch(service.knowledge, creator, batch)
            print(f"built {min(documents, first + DOCUMENTS_PER_BATCH)}/{documents} documents", flush=True)
        chunks = await service.knowledge.store.count(creator)
    (directory / BUILT).write_text(str(chunks))


async def _corpus(root: Path, size: int) -> tuple[Path, float]:
    """The built corpus of `size` chunks under `root` (built now in a child process unless it was
    already), and the seconds building took (0 when reused)."""
    directory = root / f"chunks-{size}"
    if (directory / BUILT).exists():
        return directory, 0.0
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.scale", "--build", str(directory), "--chunks", str(size)
    )
    if await child.wait() != 0 or not (directory / BUILT).exists():
        raise RuntimeError(f"building the {size}-chunk corpus failed")
    return directory, time.perf_counter() - started


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
    search_cpu_p50: float = 0.0  # CPU seconds of the whole process (every thread) per search
    reply_cpu_p50: float = 0.0  # CPU seconds of the whole process (every thread) per reply
    first_message_p50: float = 0.0  # the reply to someone writing for the first time
    parts: dict[str, tuple[float, float]] = field(default_factory=dict)  # part: (p50, p99) seconds


async def _measure(root: Path, size: int, samples: int) -> SizeResult:
    """Build (or reuse) the corpus, then measure it in a fresh child process: every size gets an
    instance of its own, so the RSS is that of one instance serving that corpus alone."""
    directory, load_seconds = await _corpus(root, size)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.scale",
        "--measure",
        str(directory),
        "--samples",
        str(samples),
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"measuring the {size}-chunk corpus failed")
    result = SizeResult(**json.loads(output.decode().strip().splitlines()[-1]))
    result.load_seconds = load_seconds
    return result


async def measure(directory: Path, samples: int) -> SizeResult:
    """Search, replies, the first search after an upload, and RSS, on the corpus in `directory`."""
    rng = random.Random(samples)
    vocabulary = _vocabulary()
    async with _service(directory) as (service, creator):
        chunks = await service.knowledge.store.count(creator)
        questions = [" ".join(rng.choice(vocabulary) for _ in range(8)) + "?" for _ in range(samples)]
        await service.knowledge.search(creator, "warm up the caches", 5)
        search_times, search_cpu = [], []
        for question in questions:
            started, cpu_started = time.perf_counter(), time.process_time()
            await service.knowledge.retrieve(creator, question, 5)
            search_times.append(time.perf_counter() - started)
            search_cpu.append(time.process_time() - cpu_started)
        # Replies to people who wrote before (each of `PEOPLE` once, untimed), as most replies are; a
        # person's first message (their user, account and conversation created) is its own figure.
        people = [f"person-{number}" for number in range(PEOPLE)]
        for person in people:
            await _ask(service, "warm up", person)
        breakdown = ReplyBreakdown()
        breakdown.attach(service)
        replies, cpu = [], []
        for number, question in enumerate(questions[: max(20, samples // 4)]):
            breakdown.begin()
            cpu_started = time.process_time()
            reply = (await _ask(service, question, people[number % PEOPLE]))[1]
            cpu.append(time.process_time() - cpu_started)
            breakdown.end(reply)
            replies.append(reply)
        first_messages = [(await _ask(service, question))[1] for question in questions[:FIRST_MESSAGES]]
        firsts, steadies = [], []
        # New content on every run: the same text again is recognised as a duplicate, not indexed, and
        # a corpus kept between runs (`--corpus-dir`) would measure no upload after its first run.
        fresh = random.Random(uuid.uuid4().int)
        for number in range(5):  # an upload, then the very next search; then a steady one beside it
            document = _document(fresh, vocabulary, 10_000_000 + uuid.uuid4().int % 1_000_000)
            await service.knowledge.ingest(creator, document.filename, document.data)
            started = time.perf_counter()
            await service.knowledge.search(creator, questions[-1 - number], 5)
            firsts.append(time.perf_counter() - started)
            started = time.perf_counter()
            await service.knowledge.search(creator, questions[-6 - number], 5)
            steadies.append(time.perf_counter() - started)
        rss = _rss_mb()
    return SizeResult(
        chunks=chunks,
        search_p50=percentile(search_times, 0.5),
        search_p99=percentile(search_times, 0.99),
        reply_p50=percentile(replies, 0.5),
        reply_p99=percentile(replies, 0.99),
        first_message_p50=percentile(first_messages, 0.5),
        first_after_upload=percentile(firsts, 0.5),
        steady=percentile(steadies, 0.5),
        rss_mb=rss,
        load_seconds=0.0,
        search_cpu_p50=percentile(search_cpu, 0.5),
        reply_cpu_p50=percentile(cpu, 0.5),
        parts={
            part: (breakdown.percentile(part, 0.5), breakdown.percentile(part, 0.99))
            for part in breakdown.parts()
        },
    )


def _breakdown_rows(results: list[SizeResult], sizes_note: str) -> list[Row]:
    """A row per part of the reply: its p50 at each size, and its p99 at the largest."""
    largest = results[-1]
    return [
        Row(
            "reply overhead, part by part",
            part,
            " / ".join(f"{result.parts.get(part, (0.0, 0.0))[0] * 1000:.1f}" for result in results) + " ms",
            f"p50 {sizes_note}; p99 at {largest.chunks / 1000:.0f}k {p99 * 1000:.1f} ms",
        )
        for part, (_, p99) in largest.parts.items()
    ]


def _growth(results: list[SizeResult], value: str, unit: str = "ms", scale: float = 1000.0) -> str:
    return " / ".join(f"{getattr(result, value) * scale:.1f}" for result in results) + f" {unit}"


async def run(quick: bool, corpus_dir: Path | None = None, sizes: Sequence[int] | None = None) -> list[Row]:
    """Every size in turn; rows with growth across sizes."""
    sizes = sizes or ((1_000, 10_000, 20_000) if quick else (1_000, 10_000, 100_000))
    samples = 100 if quick else 300
    with tempfile.TemporaryDirectory() as scratch:
        root = corpus_dir or Path(scratch)
        results = [await _measure(root, size, samples) for size in sizes]
    largest = results[-1]
    sizes_note = "at " + " / ".join(f"{result.chunks / 1000:.1f}k" for result in results) + " chunks"
    name = "one creator, many chunks (SQLite FTS5 + embedded Chroma)"
    synthetic = "; synthetic vectors, model time excluded"
    return [
        Row(name, "search p50 (growth)", _growth(results, "search_p50"), sizes_note + synthetic),
        Row(name, "search p99 (growth)", _growth(results, "search_p99"), sizes_note),
        Row(
            name, "reply overhead p50 (growth)", _growth(results, "reply_p50"), sizes_note + "; goal ≤ 15 ms"
        ),
        Row(
            name,
            "reply overhead p99 (growth)",
            _growth(results, "reply_p99"),
            sizes_note + f"; goal ≤ 50 ms; {PEOPLE} people who wrote before, in turn",
        ),
        Row(
            name,
            "reply overhead, first message p50 (growth)",
            _growth(results, "first_message_p50"),
            sizes_note + f"; {FIRST_MESSAGES} people writing for the first time (user, account created)",
        ),
        Row(
            name,
            "CPU per search p50 (growth)",
            _growth(results, "search_cpu_p50"),
            sizes_note + "; every thread of the process, so load barely moves it",
        ),
        Row(
            name,
            "CPU per reply p50 (growth)",
            _growth(results, "reply_cpu_p50"),
            sizes_note + "; every thread of the process, so load barely moves it",
        ),
        *_breakdown_rows(results, sizes_note),
        Row(
            name,
            f"first search after an upload / steady, {largest.chunks / 1000:.0f}k",
            f"{largest.first_after_upload / largest.steady:.2f}",
            f"{largest.first_after_upload * 1000:.1f} vs {largest.steady * 1000:.1f} ms; goal ≤ 2",
        ),
        Row(
            name,
            "RSS serving the corpus (growth)",
            _growth(results, "rss_mb", "MB", 1.0),
            sizes_note + ", a fresh instance; goal < 500 MB at 100k",
        ),
        Row(
            name,
            "building the corpus (growth)",
            _growth(results, "load_seconds", "s", 1.0),
            "bulk ingestion in a child process, synthetic vectors (0: reused)",
        ),
    ]


def main() -> None:
    """`python -m bench.scale`: this table alone (or, with `--build`, one corpus built and no table)."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--corpus-dir", type=Path, help="keep built corpora here and reuse them")
    parser.add_argument("--sizes", type=int, nargs="+", help="chunk counts to measure (default: per mode)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chunks", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=100, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.build is not None:
        asyncio.run(build(options.build, options.chunks))
        return
    if options.measure is not None:
        print(json.dumps(asdict(asyncio.run(measure(options.measure, options.samples)))))
        return
    for row in asyncio.run(run(options.quick, options.corpus_dir, options.sizes)):
        print(f"{row.benchmark} | {row.measure} | {row.value} | {row.note}")


if __name__ == "__main__":
    main()

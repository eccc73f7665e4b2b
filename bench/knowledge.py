"""Knowledge benchmarks: ingestion vs raw embedding throughput, search latency at 100k chunks, and
retrieval quality (recall@1, recall@5, MRR) plus honest declines on the SQuAD v2 sample."""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stats import Row, percentile, run_alone
from bot.foundation.clock import SystemClock
from bot.foundation.db import create_engine, migrate, session_factory
from bot.identity import ensure_default_creator
from coaching.documents import chunk_document, parse_document
from coaching.embeddings import Embedder, EmbeddingsUnavailable, LocalMiniLMEmbedder
from coaching.generation import GenerationRequest, Persona
from coaching.knowledge import KnowledgeBase
from coaching.offline import OfflineGenerator
from coaching.vector_store import ChromaVectorStore, StoredChunk
from config import load_settings
from tests.support.shared_fixtures import shared_fixture_or_exit

DOCUMENTS = ["as_a_man_thinketh_james_allen.txt", "niddk_eating_diabetes_508.pdf", "docling_word_sample.docx"]
DECLINE_MARKERS = ("don't cover", "do not cover", "not covered")


async def knowledge_base(
    directory: Path, embedder: Embedder, *, min_relevance: float | None = None
) -> tuple[KnowledgeBase, str, AsyncEngine]:
    """A real knowledge base in `directory` (SQLite + embedded Chroma) and its one creator's id, for the
    benchmarks; the caller disposes of the engine."""
    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    await migrate(engine)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        creator = await ensure_default_creator(session, "Bench", SystemClock().now())
    knowledge = KnowledgeBase(
        sessions,
        ChromaVectorStore.embedded(directory / "chroma"),
        embedder,
        SystemClock(),
        max_upload_bytes=50 * 1024 * 1024,
        min_relevance=load_settings().min_relevance if min_relevance is None else min_relevance,
    )
    return knowledge, creator.id, engine


async def ingestion(embedder: Embedder) -> list[Row]:
    """Chunks/s through the whole ingest beside chunks/s of the embedder alone on the same chunks."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        knowledge, creator, engine = await knowledge_base(Path(directory), embedder)
        total_chunks, ingest_seconds, embed_seconds = 0, 0.0, 0.0
        for name in DOCUMENTS:
            data = shared_fixture_or_exit("docs", name).read_bytes()
            started = time.perf_counter()
            result = await knowledge.ingest(creator, name, data)
            ingest_seconds += time.perf_counter() - started
            chunks = chunk_document(parse_document(name, data, max_bytes=len(data) + 1))
            started = time.perf_counter()
            for start in range(0, len(chunks), 32):
                await embedder.embed([chunk.text for chunk in chunks[start : start + 32]])
            embed_seconds += time.perf_counter() - started
            total_chunks += result.document.chunk_count
        await knowledge.store.aclose()
        await engine.dispose()
    ingest_rate, embed_rate = total_chunks / ingest_seconds, total_chunks / embed_seconds
    rows.append(
        Row(
            "ingestion (3 fixture documents)",
            "whole ingest",
            f"{ingest_rate:.1f} chunks/s",
            f"{total_chunks} chunks",
        )
    )
    rows.append(
        Row("ingestion (3 fixture documents)", "embedding alone", f"{embed_rate:.1f} chunks/s", embedder.name)
    )
    rows.append(
        Row(
            "ingestion (3 fixture documents)",
            "ingest / embedding",
            f"{ingest_rate / embed_rate:.2f}",
            "1.00 = the model is the only cost",
        )
    )
    return rows


async def search_latency(embedder: Embedder, chunks: int) -> list[Row]:
    """p50/p99 of a k=5 query in one creator's collection of `chunks` chunks (embedded Chroma)."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as directory:
        store = ChromaVectorStore.embedded(Path(directory) / "chroma")
        dimension = len((await embedder.embed(["probe"]))[0])
        batch: list[StoredChunk] = []
        for index in range(chunks):
            vector = [rng.gauss(0, 1) for _ in range(dimension)]
            batch.append(
                StoredChunk(f"c{index}", f"chunk {index}", vector, {"document_id": f"d{index // 100}"})
            )
            if len(batch) == 5000:
                await store.add("bench", batch)
                batch = []
        await store.add("bench", batch)
        questions = [f"question number {index} about sleep and habits" for index in range(200)]
        store_times, full_times = [], []
        for question in questions:
            started = time.perf_counter()
            [vector] = await embedder.embed([question])
            embedded = time.perf_counter()
            await store.query("bench", vector, 5)
            done = time.perf_counter()
            store_times.append(done - embedded)
            full_times.append(done - started)
        await store.aclose()
    name = f"search, {chunks:,} chunks in one collection"
    return [
        Row(
            name,
            "vector query p50 / p99",
            f"{percentile(store_times, 0.5) * 1000:.1f} / {percentile(store_times, 0.99) * 1000:.1f} ms",
            "embedded Chroma, k=5",
        ),
        Row(
            name,
            "with query embedding p50 / p99",
            f"{percentile(full_times, 0.5) * 1000:.1f} / {percentile(full_times, 0.99) * 1000:.1f} ms",
            embedder.name,
        ),
    ]


def _squad() -> tuple[list[str], list[tuple[str, int, bool]]]:
    data = json.loads(shared_fixture_or_exit("qa", "squad_v2_small.json").read_text())
    paragraphs: list[str] = []
    questions: list[tuple[str, int, bool]] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            paragraphs.append(paragraph["context"])
            questions.extend(
                (qa["question"], len(paragraphs) - 1, qa["is_impossible"]) for qa in paragraph["qas"]
            )
    return paragraphs, questions


def _score(rankings: list[tuple[list[int], int]]) -> tuple[float, float, float]:
    """recall@1, recall@5, MRR@5 of (ranked paragraph numbers, gold) pairs."""
    n = len(rankings)
    at_1 = sum(ranked[:1] == [gold] for ranked, gold in rankings) / n
    at_5 = sum(gold in ranked[:5] for ranked, gold in rankings) / n
    mrr = sum(1 / (ranked.index(gold) + 1) for ranked, gold in rankings if gold in ranked[:5]) / n
    return at_1, at_5, mrr


async def qa_quality(embedder: Embedder) -> list[Row]:
    """Recall@1/@5 and MRR on answerable SQuAD questions (gold = its paragraph), for vectors alone and
    for the product's search (vectors + BM25); then how often the twin declines the unanswerable ones."""
    paragraphs, questions = _squad()
    answerable = [(q, gold) for q, gold, impossible in questions if not impossible]
    impossible = [q for q, _, flag in questions if flag]
    with tempfile.TemporaryDirectory() as directory:
        knowledge, creator, engine = await knowledge_base(Path(directory), embedder)
        paragraph_of: dict[str, int] = {}
        for number, text in enumerate(paragraphs):
            result = await knowledge.ingest(creator, f"paragraph-{number}.txt", text.encode())
            paragraph_of[result.document.id] = number
        vector_rankings, hybrid_rankings = [], []
        for question, gold in answerable:
            [vector] = await embedder.embed([question])
            nearest = await knowledge.store.query(creator, vector, 20)
            vector_rankings.append(
                (_unique([paragraph_of[hit.chunk_id.rsplit(":", 1)[0]] for hit in nearest]), gold)
            )
            hits = await knowledge.search(creator, question, 10)
            hybrid_rankings.append((_unique([paragraph_of[hit.document_id] for hit in hits]), gold))
        generator = OfflineGenerator()
        declined = 0
        for question in impossible:
            context = tuple(await knowledge.retrieve(creator, question, 5))
            reply = (
                await generator.generate(GenerationRequest(Persona("Bench", ""), question, context=context))
            ).text
            declined += any(marker in reply for marker in DECLINE_MARKERS)
        await knowledge.store.aclose()
        await engine.dispose()
    name = f"SQuAD v2 sample ({len(paragraphs)} paragraphs)"
    rows = []
    for label, rankings in (("vectors only", vector_rankings), ("search (vectors + BM25)", hybrid_rankings)):
        at_1, at_5, mrr = _score(rankings)
        rows.append(
            Row(
                name,
                f"{label}: recall@1 / @5 / MRR",
                f"{at_1:.3f} / {at_5:.3f} / {mrr:.3f}",
                f"{len(answerable)} answerable",
            )
        )
    rows.append(
        Row(
            name,
            "unanswerable declined",
            f"{declined / len(impossible):.3f}",
            f"{len(impossible)} questions, offline generator, min relevance {knowledge.min_relevance}",
        )
    )
    return rows


def _unique(numbers: list[int]) -> list[int]:
    return list(dict.fromkeys(numbers))


async def run(quick: bool) -> list[Row]:
    """Every knowledge benchmark with the local model (skipped with a reason when it cannot load)."""
    settings = load_settings()
    embedder = LocalMiniLMEmbedder(settings.resolved_models_dir)
    try:
        await embedder.embed(["warm up"])
    except EmbeddingsUnavailable as exc:
        return [Row("knowledge", "skipped", "-", str(exc))]
    try:
        rows = await ingestion(embedder)
        rows += await search_latency(embedder, 10_000 if quick else 100_000)
        rows += await qa_quality(embedder)
    finally:
        await embedder.aclose()
    return rows


if __name__ == "__main__":
    run_alone(run, "python -m bench.knowledge", __doc__)

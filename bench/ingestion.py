"""Bulk ingestion against the embedding model's own rate on the same chunks (the comparator).

Many small documents (paragraphs of a real book, one document each) go in several ways in one run:
the model alone embedding what the batch embeds — their chunks and the chunks' sentences, whose
vectors are stored for answering — each distinct text once in length-sorted calls (its best case);
the model on the chunks alone (the price of the sentence vectors); the batch path
(`coaching/bulk_ingest.py`: parse, chunk, embed, bulk write to SQLite and embedded Chroma, one change
announced), and the old one-file-at-a-time upload on a sample. Goal: batch ≥ 0.85 × the model.

    python -m bench.ingestion            # --quick: 200 documents
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path

from bench.knowledge import knowledge_base
from bench.stats import Row
from coaching.bulk_ingest import EMBED_CALL, BatchFile, ingest_batch
from coaching.documents import chunk_document, parse_document
from coaching.embeddings import Embedder, EmbeddingsUnavailable, LocalMiniLMEmbedder
from coaching.sentence_store import split_sentences
from config import load_settings
from tests.support.shared_fixtures import SHARED_FIXTURES

BOOK = SHARED_FIXTURES / "docs" / "as_a_man_thinketh_james_allen.txt"
NAME = "bulk ingestion (small documents)"
SLICE = 100  # documents per back-to-back pair of measurements


def _documents(count: int) -> list[BatchFile]:
    """`count` short documents: runs of about 60 words of the book, numbered so each is new."""
    words = re.sub(r"\s+", " ", BOOK.read_text(encoding="utf-8")).split(" ")
    documents = []
    for number in range(count):
        start = (number * 37) % max(1, len(words) - 120)
        length = 30 + (number * 13) % 90  # 30 to 120 words: lengths vary as abstracts do
        text = f"Note {number}. " + " ".join(words[start : start + length])
        documents.append(BatchFile(f"note-{number}.txt", text.encode()))
    return documents


async def _model_seconds(embedder: Embedder, texts: list[str]) -> float:
    """The model alone on these texts: each distinct one once, sorted by length, in the batch's calls."""
    ordered = sorted(set(texts), key=len)
    began = time.perf_counter()
    for first in range(0, len(ordered), EMBED_CALL):
        await embedder.embed(ordered[first : first + EMBED_CALL])
    return time.perf_counter() - began


async def measure(embedder: Embedder, count: int, one_by_one: int) -> list[Row]:
    """The rates and their ratios."""
    documents = _documents(count)
    model_seconds, chunks_only_seconds, batch_seconds, chunks = 0.0, 0.0, 0.0, 0
    with tempfile.TemporaryDirectory() as directory:
        knowledge, creator, engine = await knowledge_base(Path(directory), embedder)
        # Slices, each measured every way back to back: on a shared machine the load drifts, and
        # alternating keeps the comparators under the same load as what they are compared with.
        for start in range(0, count, SLICE):
            part = documents[start : start + SLICE]
            parsed = [
                chunk
                for document in part
                for chunk in chunk_document(
                    parse_document(document.filename, document.data, max_bytes=1 << 20)
                )
            ]
            chunk_texts = [chunk.embedding_text for chunk in parsed]
            # What the batch embeds: every chunk and every sentence of it (stored for answering).
            model_seconds += await _model_seconds(embedder, chunk_texts + split_sentences(parsed)[1])
            chunks_only_seconds += await _model_seconds(embedder, chunk_texts)
            began = time.perf_counter()
            results = await ingest_batch(knowledge, creator, part)
            batch_seconds += time.perf_counter() - began
            chunks += sum(result.document.chunk_count for result in results if result.document is not None)
        sample = _documents(count + one_by_one)[count:]
        started = time.perf_counter()
        for document in sample:
            await knowledge.ingest(creator, document.filename, document.data)
        single_seconds = time.perf_counter() - started
        single_chunks = len(sample)  # one chunk each at this size
        await engine.dispose()
    model_rate, chunks_only_rate = chunks / model_seconds, chunks / chunks_only_seconds
    batch_rate = chunks / batch_seconds
    single_rate = single_chunks / single_seconds
    note = f"{count} documents, {chunks} chunks, {embedder.name}"
    return [
        Row(
            NAME,
            "model alone on the same chunks and sentences (comparator)",
            f"{model_rate:.1f} chunks/s",
            "each distinct text once, length-sorted calls of " + str(EMBED_CALL),
        ),
        Row(NAME, "batch ingest", f"{batch_rate:.1f} chunks/s", note),
        Row(NAME, "batch ingest / model", f"{batch_rate / model_rate:.2f}", "goal ≥ 0.85"),
        Row(
            NAME,
            "batch ingest / model on the chunks alone",
            f"{batch_rate / chunks_only_rate:.2f}",
            f"{chunks_only_rate:.1f} chunks/s without sentences: the price of stored sentence vectors",
        ),
        Row(
            NAME,
            "one file at a time / model",
            f"{single_rate / model_rate:.2f}",
            f"{one_by_one} documents uploaded singly: {single_rate:.1f} chunks/s",
        ),
    ]


async def run(quick: bool) -> list[Row]:
    """With the local model; one row saying why when it cannot load, or without the fixtures."""
    if not BOOK.exists():
        return [Row(NAME, "skipped", "-", f"{BOOK} is missing")]
    embedder = LocalMiniLMEmbedder(load_settings().resolved_models_dir)
    try:
        await embedder.embed(["warm up"])
    except EmbeddingsUnavailable as exc:
        return [Row(NAME, "skipped", "-", str(exc))]
    try:
        return await measure(embedder, 200 if quick else 1000, 30 if quick else 100)
    finally:
        await embedder.aclose()


def main() -> None:
    """`python -m bench.ingestion`: this table alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingestion", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    for row in asyncio.run(run(parser.parse_args().quick)):
        print(f"{row.benchmark} | {row.measure} | {row.value} | {row.note}")


if __name__ == "__main__":
    main()

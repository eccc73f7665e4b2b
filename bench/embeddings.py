"""Throughput of the local embedding model (onnxruntime) on short sentences and on ~180-token chunks (the
size documents are cut into), plus what padding every text to 256 tokens would cost (Chroma's stock
embedding function does that), and how far the ONNX graph is from the plain-numpy reference in tests."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

from bench.stats import Row, run_alone
from coaching.embeddings import (
    MODEL_NAME,
    EmbeddingsUnavailable,
    LocalMiniLMEmbedder,
    MiniLMModel,
    model_dir,
    pad_batch,
    provision_local_model,
)
from config import load_settings
from tests.support.minilm_reference import load_weights, numpy_forward
from tests.support.shared_fixtures import SHARED_FIXTURES, shared_fixture_or_exit

BOOK = SHARED_FIXTURES / "docs" / "as_a_man_thinketh_james_allen.txt"
NAME = f"embeddings ({MODEL_NAME})"
CHUNK_TOKENS = 178  # + [CLS] and [SEP] = 180
CALL_SIZE = 32  # texts per embed() call, as the knowledge base sends them


async def run(quick: bool) -> list[Row]:
    """Sentences/s and chunks/s; one row saying why when the model cannot be provisioned."""
    models_dir = load_settings().resolved_models_dir
    try:
        await asyncio.to_thread(provision_local_model, models_dir)
    except EmbeddingsUnavailable as exc:
        return [Row(NAME, "skipped", "-", str(exc))]
    model = await asyncio.to_thread(MiniLMModel, model_dir(models_dir))
    text = shared_fixture_or_exit("docs", BOOK.name).read_text(encoding="utf-8")
    sentences = _sentences(text)
    chunks = _chunks(model, text)
    sentence_count, chunk_count = (256, 64) if quick else (2048, 384)
    some_sentences = _cycle(sentences, sentence_count)
    some_chunks = _cycle(chunks, chunk_count)
    embedder = LocalMiniLMEmbedder(models_dir)
    try:
        await embedder.embed(some_sentences[:CALL_SIZE])  # loads the model and warms it up
        sentence_rate = await _rate(embedder, some_sentences)
        chunk_rate = await _rate(embedder, some_chunks)
    finally:
        await embedder.aclose()
    rows = [
        Row(
            NAME,
            "onnx, short sentences",
            f"{sentence_rate:.0f} sentences/s",
            f"{sentence_count} sentences of {_mean_tokens(model, some_sentences):.0f} tokens on average, "
            f"{CALL_SIZE} a call",
        ),
        Row(
            NAME,
            "onnx, ~180-token chunks",
            f"{chunk_rate:.1f} chunks/s",
            f"{chunk_count} chunks of {_mean_tokens(model, some_chunks):.0f} tokens on average, "
            f"{CALL_SIZE} a call",
        ),
    ]
    padded_count = 64 if quick else 256  # ~22 a second: more would only make the run longer
    padded_rate = await asyncio.to_thread(_padded_to_256_rate, model, _cycle(sentences, padded_count))
    rows.append(
        Row(
            NAME,
            "onnx, short sentences padded to 256",
            f"{padded_rate:.0f} sentences/s",
            f"{padded_count} sentences, {CALL_SIZE} a batch: what padding every text to the maximum costs",
        )
    )
    difference = await asyncio.to_thread(_onnx_numpy_difference, model, sentences[:24] + chunks[:8])
    rows.append(
        Row(
            NAME,
            "onnx vs the numpy reference, max abs difference",
            f"{difference:.1e}",
            "24 sentences + 8 chunks",
        )
    )
    return rows


async def _rate(embedder: LocalMiniLMEmbedder, texts: Sequence[str]) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), CALL_SIZE):
        await embedder.embed(texts[start : start + CALL_SIZE])
    return len(texts) / (time.perf_counter() - started)


def _padded_to_256_rate(model: MiniLMModel, texts: Sequence[str]) -> float:
    token_ids = model.tokenize(texts)
    started = time.perf_counter()
    for start in range(0, len(token_ids), CALL_SIZE):
        model.forward(*pad_batch(token_ids[start : start + CALL_SIZE], length=256))
    return len(texts) / (time.perf_counter() - started)


def _onnx_numpy_difference(model: MiniLMModel, texts: Sequence[str]) -> float:
    weights = load_weights(model.directory / "model.safetensors")
    reference = np.concatenate([numpy_forward(weights, *pad_batch([ids])) for ids in model.tokenize(texts)])
    return float(np.abs(model.embed(texts) - reference).max())


def _sentences(text: str) -> list[str]:
    """The book's sentences of 20-120 characters (about 10-30 tokens): question-sized texts."""
    candidates = (" ".join(sentence.split()) for sentence in re.split(r"(?<=[.!?])\s+", text))
    return [sentence for sentence in candidates if 20 <= len(sentence) <= 120]


def _chunks(model: MiniLMModel, text: str) -> list[str]:
    """Consecutive passages of the book, cut at token boundaries every `CHUNK_TOKENS` tokens."""
    joined = " ".join(text.split())
    # A copy of the model's tokenizer without its 256-token truncation, so the whole book is cut.
    tokenizer = Tokenizer.from_str(model.tokenizer.to_str())
    tokenizer.no_truncation()
    offsets = tokenizer.encode(joined, add_special_tokens=False).offsets
    return [
        joined[offsets[start][0] : offsets[min(start + CHUNK_TOKENS, len(offsets)) - 1][1]]
        for start in range(0, len(offsets) - CHUNK_TOKENS, CHUNK_TOKENS)
    ]


def _cycle(texts: Sequence[str], count: int) -> list[str]:
    return [texts[index % len(texts)] for index in range(count)]


def _mean_tokens(model: MiniLMModel, texts: Sequence[str]) -> float:
    return sum(len(ids) for ids in model.tokenize(texts)) / len(texts)


if __name__ == "__main__":
    run_alone(run, "python -m bench.embeddings", __doc__)

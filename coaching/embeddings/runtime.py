"""all-MiniLM-L6-v2 run by onnxruntime: tokenise, batch by length, run the graph.

Texts are sorted by length and each batch is padded only to its longest text: padding everything to 256
tokens is what made Chroma's stock function slow here (DESIGN.md, "Facts measured here").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from coaching.embeddings.interface import EmbeddingsUnavailable
from coaching.embeddings.minilm import DIMENSION, MAX_TOKENS, MODEL_NAME, TOKENIZER_FILE
from coaching.embeddings.provisioning import ONNX_FILE
from coaching.status import ComponentStatus

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# Padded tokens per forward pass. Measured on 2 cores: ~1024 is the fastest for short sentences and
# ~180-token chunks alike (about 15% more chunks/s than 32 chunks a batch, which spill out of the caches).
MAX_BATCH_TOKENS = 1024
# Texts tokenised per tokenizer call: a huge request keeps only token ids, not every Encoding at once.
_TOKENIZE_BLOCK = 1024


def onnx_session(path: Path) -> Any:
    """An onnxruntime session for the graph at `path`, sized for this machine."""
    import onnxruntime  # ships no type information

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads would otherwise spin after each run, taking the CPU the event loop and the
    # web server share with them on a small machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class MiniLMModel:
    """all-MiniLM-L6-v2 loaded from a provisioned directory: its tokenizer and an onnxruntime session.

    Raises `EmbeddingsUnavailable` when onnxruntime cannot load the graph.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        # tokenizer.json truncates at 128 and pads to 128; sentence-transformers uses 256 and pads per batch.
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        try:
            self._session = onnx_session(directory / ONNX_FILE)
        except Exception as exc:  # onnxruntime raises its own, untyped exceptions
            raise EmbeddingsUnavailable(
                f"onnxruntime cannot run {MODEL_NAME} in {directory} ({type(exc).__name__}: {exc})"
            ) from exc

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, with [CLS] and [SEP], truncated to 256 tokens."""
        ids: list[list[int]] = []
        for start in range(0, len(texts), _TOKENIZE_BLOCK):
            ids.extend(
                encoding.ids
                for encoding in self.tokenizer.encode_batch(list(texts[start : start + _TOKENIZE_BLOCK]))
            )
        return ids

    def forward(self, input_ids: IntArray, attention_mask: IntArray) -> FloatArray:
        """Unit-length embeddings [batch, 384] of one padded batch."""
        (output,) = self._session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
        return np.asarray(output, dtype=np.float32)

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, max_batch_tokens: int = MAX_BATCH_TOKENS
    ) -> FloatArray:
        """Embeddings [len(texts), 384], returned in input order.

        Texts are sorted by length and grouped into batches of at most `batch_size` texts and
        `max_batch_tokens` tokens once padded, each padded only to its own longest text.
        """
        token_ids = self.tokenize(texts)
        result = np.empty((len(texts), DIMENSION), dtype=np.float32)
        by_length = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        start = 0
        while start < len(by_length):
            end = start + 1  # a batch holds at least one text, however long
            while (
                end < len(by_length)
                and end - start < batch_size
                and (end - start + 1) * len(token_ids[by_length[end]]) <= max_batch_tokens
            ):
                end += 1
            members = by_length[start:end]
            result[members] = self.forward(*pad_batch([token_ids[i] for i in members]))
            start = end
        return result

    def describe(self) -> ComponentStatus:
        """The state this model runs in, for `check()`."""
        return ComponentStatus("real", f"{MODEL_NAME} (ONNX, CPU) in {self.directory}")


def pad_batch(token_ids: Sequence[Sequence[int]], length: int | None = None) -> tuple[IntArray, IntArray]:
    """(input_ids, attention_mask) padded with zeros to `length`, by default the longest in the batch."""
    width = length or max((len(ids) for ids in token_ids), default=0)
    input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
    attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask

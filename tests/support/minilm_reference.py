"""all-MiniLM-L6-v2 in plain numpy: the reference the ONNX graph is checked against (tests and bench only).

The sentence-transformers pipeline written out by hand: BERT, mean pooling over the attention mask, L2
normalisation. Slow (about a quarter of onnxruntime's rate), but every step is visible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from coaching.embeddings.minilm import (
    DIMENSION,
    HEAD_SIZE,
    HEADS,
    LAYER_NORM_EPS,
    LAYERS,
    MASKED_SCORE,
    layer,
)
from coaching.embeddings.weights import read_safetensors_index

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def load_weights(path: Path) -> dict[str, FloatArray]:
    """The float32 tensors of a safetensors file, memory-mapped read-only (shared with the page cache)."""
    index = read_safetensors_index(path)
    mapped = np.memmap(path, dtype=np.uint8, mode="r")
    return {
        name: mapped[entry.offset : entry.offset + entry.length].view(np.float32).reshape(entry.shape)
        for name, entry in index.items()
        if entry.dtype == "F32"
    }


def numpy_forward(
    weights: Mapping[str, FloatArray], input_ids: IntArray, attention_mask: IntArray
) -> FloatArray:
    """Sentence embeddings [batch, 384] for a padded batch, in plain numpy: BERT, mean pooling, L2 norm."""
    mask = attention_mask.astype(np.float32)
    batch, length = input_ids.shape
    hidden = (
        weights["embeddings.word_embeddings.weight"][input_ids]
        + weights["embeddings.position_embeddings.weight"][:length]
        + weights["embeddings.token_type_embeddings.weight"][0]
    )
    hidden = _layer_norm(hidden, weights, "embeddings.LayerNorm")
    bias = ((1.0 - mask) * MASKED_SCORE)[:, None, None, :]
    for index in range(LAYERS):
        query, key, value = (
            _linear(hidden, weights, layer(index, f"attention.self.{name}"))
            .reshape(batch, length, HEADS, HEAD_SIZE)
            .transpose(0, 2, 1, 3)
            for name in ("query", "key", "value")
        )
        scores = (query / np.float32(math.sqrt(HEAD_SIZE))) @ key.transpose(0, 1, 3, 2)
        context = (_softmax(scores + bias) @ value).transpose(0, 2, 1, 3).reshape(batch, length, DIMENSION)
        attended = _linear(context, weights, layer(index, "attention.output.dense"))
        hidden = _layer_norm(attended + hidden, weights, layer(index, "attention.output.LayerNorm"))
        inner = _gelu(_linear(hidden, weights, layer(index, "intermediate.dense")))
        output = _linear(inner, weights, layer(index, "output.dense"))
        hidden = _layer_norm(output + hidden, weights, layer(index, "output.LayerNorm"))
    summed = (hidden * mask[:, :, None]).sum(axis=1)
    pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
    return np.asarray(pooled / norms, dtype=np.float32)


def _linear(x: FloatArray, weights: Mapping[str, FloatArray], prefix: str) -> FloatArray:
    # PyTorch stores Linear weights as [out, in]; `.T` is a view BLAS reads transposed, no copy.
    result: FloatArray = x @ weights[f"{prefix}.weight"].T + weights[f"{prefix}.bias"]
    return result


def _layer_norm(x: FloatArray, weights: Mapping[str, FloatArray], prefix: str) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    normed: FloatArray = centred / np.sqrt(variance + np.float32(LAYER_NORM_EPS))
    return normed * weights[f"{prefix}.weight"] + weights[f"{prefix}.bias"]


def _softmax(x: FloatArray) -> FloatArray:
    shifted: FloatArray = x - x.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def _gelu(x: FloatArray) -> FloatArray:
    """GELU with erf, as BERT's "gelu" (not the tanh approximation)."""
    result = _erf(x * np.float32(1.0 / math.sqrt(2.0)))
    result += np.float32(1.0)
    result *= x
    result *= np.float32(0.5)
    return result


def _erf(x: FloatArray) -> FloatArray:
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26); numpy has no erf and scipy is not installed."""
    a = np.abs(x)
    t = a * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(np.float32(1.0), poly, out=poly)
    np.copysign(poly, x, out=poly)
    return poly

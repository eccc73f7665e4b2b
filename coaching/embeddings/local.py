"""The local embedder: all-MiniLM-L6-v2 on this machine's CPU, provisioned on first use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from coaching.embeddings.fetching import ModelFetcher
from coaching.embeddings.interface import EmbeddingsUnavailable
from coaching.embeddings.minilm import DIMENSION, MODEL_NAME
from coaching.embeddings.provisioning import is_provisioned, last_failure, provision_local_model
from coaching.embeddings.runtime import MAX_BATCH_TOKENS, MiniLMModel
from coaching.status import ComponentStatus


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
        retry_interval: float = 300.0,
    ) -> None:
        self.models_dir = models_dir
        self.fetcher = fetcher
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
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
            failure = last_failure(self.models_dir)
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
                failure = last_failure(self.models_dir)
                recent = failure is not None and time.monotonic() - failure[0] < self.retry_interval
                if failure is not None and recent and not is_provisioned(self.models_dir):
                    raise EmbeddingsUnavailable(failure[1])
                self._model = await asyncio.to_thread(self._provision_and_load)
            return self._model

    def _provision_and_load(self) -> MiniLMModel:
        directory = provision_local_model(self.models_dir, self.fetcher)
        try:
            return MiniLMModel(directory)
        except EmbeddingsUnavailable:
            raise
        except Exception as exc:  # tokenizers raises its own types for damaged files
            raise EmbeddingsUnavailable(
                f"{MODEL_NAME} in {directory} cannot be loaded ({type(exc).__name__}: {exc}); "
                "delete that directory to download it again"
            ) from exc

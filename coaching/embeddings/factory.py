"""Choosing the embedder the settings name."""

from __future__ import annotations

from coaching.embeddings.interface import Embedder
from coaching.embeddings.local import LocalMiniLMEmbedder
from coaching.embeddings.ollama import OllamaEmbedder
from config.settings import Settings


def build_embedder(settings: Settings) -> Embedder:
    """The embedder `COACH_EMBEDDINGS` names: `local` (all-MiniLM-L6-v2) or `ollama:<model>`."""
    if settings.embeddings == "local":
        return LocalMiniLMEmbedder(settings.resolved_models_dir)
    if settings.embeddings.startswith("ollama:"):
        return OllamaEmbedder(settings.ollama_url, settings.embeddings.removeprefix("ollama:"))
    raise ValueError(f"unknown embeddings setting {settings.embeddings!r}: use 'local' or 'ollama:<model>'")

"""Which personality analyser a deployment uses, from `COACH_LLM`."""

from __future__ import annotations

from coaching.personality.offline_analyser import OfflineAnalyser
from coaching.personality.ollama_analyser import OllamaAnalyser
from coaching.personality.service import Analyser
from config.settings import LLMMode, Settings


def build_analyser(settings: Settings) -> Analyser:
    """Offline when `COACH_LLM=offline`; otherwise the Ollama model, which falls back to offline itself."""
    if settings.llm == LLMMode.OFFLINE:
        return OfflineAnalyser()
    # A profile is one structured answer over a few thousand words: give it more than a reply's first token.
    return OllamaAnalyser(
        settings.ollama_url, settings.ollama_model, timeout=max(60.0, 6 * settings.llm_timeout)
    )

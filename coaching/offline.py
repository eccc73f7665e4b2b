"""The offline generator: answers with no model at all, from the retrieved passages themselves.

Greetings get a short greeting; a question gets the passage sentences that answer it
(`selection.select_sentences`: meaning and key terms, contiguous, whole), cited as [n]; a question the
passages do not touch gets an honest "not covered".
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from coaching.generation import ContextPassage, Generation, GenerationRequest, Persona, ReplyStyle
from coaching.personality import dressing
from coaching.selection import Selection, render, select_sentences
from coaching.status import ComponentStatus
from coaching.terms import WORD, word_list
from coaching.terms import content_words as content_words  # re-exported: analytics counts topics with it

DEFAULT_OFFLINE_MAX_CHARS = 700


# Phrases longest first within each kind, so "good bye" is not read as "bye"; the kinds in the order a
# mixed message is answered ("thanks, bye" says goodbye).
_SMALL_TALK: dict[str, tuple[str, ...]] = {
    "bye": word_list(
        "good bye|goodbye|bye bye|bye|see you later|see you|see ya|good night|take care|later", "|"
    ),
    "thanks": word_list("thank you|thanks|thank u|thx|ty|cheers|much appreciated|appreciate it", "|"),
    "greeting": word_list(
        "good morning|good afternoon|good evening|good day|how are you doing|how are you|what's up|hello|"
        "hiya|hi|hey|howdy|greetings|yo",
        "|",
    ),
}
# Words that may surround small talk without making it a question ("thanks so much for the help, coach").
_SMALL_TALK_FILLER = frozenset(
    word_list(
        "there so much very a lot again coach all everyone guys ok okay great cool and for the help you "
        "your it today doing well oh"
    )
)


class OfflineGenerator:
    """Answers without a model: brief small talk, extracts from the context, and declines honestly.

    It never writes anything that is not in the creator's passages (or a fixed courtesy phrase), so it
    is safe as the fallback when the model is away.
    """

    name = "offline"

    async def generate(self, request: GenerationRequest) -> Generation:
        """The reply, computed at once."""
        return Generation(text=self.reply(request), generator=self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """The same reply in a few groups of words, like a model streams."""
        for piece in _word_groups(self.reply(request), words_per_piece=6):
            yield piece

    async def check(self) -> ComponentStatus:
        """Always available."""
        return ComponentStatus("real", "offline generator (extractive, no model)")

    async def aclose(self) -> None:
        """Nothing to release."""

    def reply(self, request: GenerationRequest) -> str:
        """The reply text (synchronous; the async methods wrap it)."""
        limit = request.max_chars or DEFAULT_OFFLINE_MAX_CHARS
        persona = request.persona
        kind = small_talk_kind(request.question, persona)
        if kind is not None:
            return _fit(_small_talk_reply(kind, persona.creator_name), limit)
        style = persona.style
        max_sentences = style.max_sentences if style is not None else 4
        answer = extractive_answer(
            request.question, request.context, limit, max_sentences=max_sentences, chosen=request.selection
        )
        if answer is None:
            return _fit(decline_text(persona.creator_name), limit)
        return in_voice(answer, request.question, style, limit) if style is not None else answer


def small_talk_kind(text: str, persona: Persona | None = None) -> str | None:
    """`greeting`, `thanks` or `bye` when the message is only that; None when it asks something."""
    words = " ".join(WORD.findall(text.lower().replace("’", "'")))
    if not words:
        return None
    found: list[str] = []
    for kind, phrases in _SMALL_TALK.items():
        for phrase in phrases:
            pattern = rf"\b{re.escape(phrase)}\b"
            if re.search(pattern, words):
                found.append(kind)
                words = re.sub(pattern, " ", words)
    if not found:
        return None
    name_words = set(WORD.findall(persona.creator_name.lower())) if persona else set()
    if set(words.split()) - _SMALL_TALK_FILLER - name_words:
        return None  # "hi, how do I sleep better?" is a question, not small talk
    return found[0]


def _small_talk_reply(kind: str, creator: str) -> str:
    if kind == "bye":
        return f"Bye for now! I'm here whenever you have another question about {creator}'s materials."
    if kind == "thanks":
        return f"You're welcome! Ask me anything else about {creator}'s materials whenever you like."
    return f"Hi! I'm {creator}'s coaching assistant. Ask me anything about {creator}'s materials."


def decline_text(creator: str) -> str:
    """The honest "not covered" reply: no guess, a way forward."""
    return (
        f"{creator}'s materials don't cover that yet, so I won't guess. "
        f"Try rephrasing your question, or ask {creator} directly."
    )


def in_voice(answer: str, question: str, style: ReplyStyle, max_chars: int) -> str:
    """The answer dressed in the creator's own openers, closers and transitions (see `personality.dressing`)."""
    return dressing.in_voice(answer, question, style, max_chars)


def extractive_answer(
    question: str,
    context: Sequence[ContextPassage],
    max_chars: int,
    *,
    max_sentences: int = 4,
    chosen: Selection | None = None,
) -> str | None:
    """The context sentences that answer the question (`selection.select_sentences`, or `chosen` when
    they were already chosen), cited `[n]` by passage number, within `max_chars`; None if nothing in
    the context answers it."""
    selection = chosen or select_sentences(question, context, max_chars, max_sentences=max_sentences)
    if selection.empty:
        return None
    text = render(selection.chosen)
    if len(text) <= max_chars:
        return text
    # Even the best sentence alone is too long: shorten it at a clause rather than say nothing.
    top = selection.chosen[0]
    marker = f" [{top.passage + 1}]"
    if max_chars <= len(marker):
        return _fit(top.text, max_chars)
    return _fit(top.text, max_chars - len(marker)) + marker


def _fit(text: str, max_chars: int) -> str:
    """`text` cut at a word boundary to at most `max_chars` characters, with an ellipsis when cut."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 1:
        return text[: max(max_chars, 0)]
    cut = text[: max_chars - 1].rsplit(" ", 1)[0]
    # End at a clause when one ends late enough, so the cut reads as a phrase, not a stumble.
    clause = max(cut.rfind(", "), cut.rfind("; "), cut.rfind(" — "))
    if clause >= max_chars // 2:
        cut = cut[:clause]
    return cut.rstrip(" ,;:") + "…"


def _word_groups(text: str, words_per_piece: int) -> list[str]:
    """`text` split into pieces of a few words each; joined, the pieces give `text` back exactly."""
    words = re.findall(r"\S+\s*", text)
    leading = text[: len(text) - len(text.lstrip())]
    pieces = ["".join(words[i : i + words_per_piece]) for i in range(0, len(words), words_per_piece)]
    if pieces:
        pieces[0] = leading + pieces[0]
    return pieces

"""The offline generator: answers with no model at all, from the retrieved passages themselves.

Greetings get a short greeting; a question gets the passage sentences that share the most content
words with it, cited as [n]; a question the passages do not touch gets an honest "not covered".
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from coaching.generation import ContextPassage, Generation, GenerationRequest, Persona, ReplyStyle
from coaching.personality import dressing
from coaching.status import ComponentStatus

DEFAULT_OFFLINE_MAX_CHARS = 700


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def _word_list(text: str, separator: str | None = None) -> tuple[str, ...]:
    """Split a word list written as one string; keeps the vocabularies below readable."""
    return tuple(item.strip() for item in text.split(separator) if item.strip())


_STOPWORDS = frozenset(
    _word_list(
        "a about above after again all also am an and any are as at be because been being but by can "
        "could did do does doing for from get got had has have having he her here hers him his how i i'm "
        "if in into is it it's its just let me more most my no not now of off on once only or other our "
        "out over own please really same she should so some such tell than that the their them then there "
        "these they this those through to too under until up very was we were what when where which while "
        "who whom why will with would you your yours"
    )
)

# Phrases longest first within each kind, so "good bye" is not read as "bye"; the kinds in the order a
# mixed message is answered ("thanks, bye" says goodbye).
_SMALL_TALK: dict[str, tuple[str, ...]] = {
    "bye": _word_list(
        "good bye|goodbye|bye bye|bye|see you later|see you|see ya|good night|take care|later", "|"
    ),
    "thanks": _word_list("thank you|thanks|thank u|thx|ty|cheers|much appreciated|appreciate it", "|"),
    "greeting": _word_list(
        "good morning|good afternoon|good evening|good day|how are you doing|how are you|what's up|hello|"
        "hiya|hi|hey|howdy|greetings|yo",
        "|",
    ),
}
# Words that may surround small talk without making it a question ("thanks so much for the help, coach").
_SMALL_TALK_FILLER = frozenset(
    _word_list(
        "there so much very a lot again coach all everyone guys ok okay great cool and for the help you "
        "your it today doing well oh"
    )
)


@dataclass(frozen=True, slots=True)
class _Sentence:
    text: str
    passage_number: int  # 1-based, as cited
    position: int  # order within the context, for a readable answer
    score: float


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
        answer = extractive_answer(request.question, request.context, limit, max_sentences=max_sentences)
        if answer is None:
            return _fit(_decline(persona.creator_name), limit)
        return in_voice(answer, request.question, style, limit) if style is not None else answer


def small_talk_kind(text: str, persona: Persona | None = None) -> str | None:
    """`greeting`, `thanks` or `bye` when the message is only that; None when it asks something."""
    words = " ".join(_WORD.findall(text.lower().replace("’", "'")))
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
    name_words = set(_WORD.findall(persona.creator_name.lower())) if persona else set()
    if set(words.split()) - _SMALL_TALK_FILLER - name_words:
        return None  # "hi, how do I sleep better?" is a question, not small talk
    return found[0]


def _small_talk_reply(kind: str, creator: str) -> str:
    if kind == "bye":
        return f"Bye for now! I'm here whenever you have another question about {creator}'s materials."
    if kind == "thanks":
        return f"You're welcome! Ask me anything else about {creator}'s materials whenever you like."
    return f"Hi! I'm {creator}'s coaching assistant. Ask me anything about {creator}'s materials."


def _decline(creator: str) -> str:
    return (
        f"{creator}'s materials don't cover that yet, so I won't guess. "
        f"Try rephrasing your question, or ask {creator} directly."
    )


def content_words(text: str) -> set[str]:
    """The words that carry meaning: lowercased, punctuation and stopwords dropped, lightly stemmed."""
    return {_stem(word) for word in _WORD.findall(text.lower().replace("’", "'")) if word not in _STOPWORDS}


def _stem(word: str) -> str:
    # Just enough to match sleep/sleeps/sleeping, exercise/exercised, run/running; a real stemmer would be
    # overkill here. Both sides go through it, so odd stems ("exercis") still match each other.
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


def in_voice(answer: str, question: str, style: ReplyStyle, max_chars: int) -> str:
    """The answer dressed in the creator's own openers, closers and transitions (see `personality.dressing`)."""
    return dressing.in_voice(answer, question, style, max_chars)


def extractive_answer(
    question: str, context: Sequence[ContextPassage], max_chars: int, *, max_sentences: int = 4
) -> str | None:
    """The best 1-`max_sentences` context sentences for the question, in reading order, cited `[n]`;
    None if none match.

    A sentence scores the number of distinct question words it contains, weighted by its passage's
    relevance; sentences under half the best score are left out so the answer stays on topic.
    """
    wanted = content_words(question)
    if not wanted:
        return None
    candidates = [sentence for sentence in _sentences(context, wanted) if sentence.score > 0]
    if not candidates:
        return None
    best = max(sentence.score for sentence in candidates)
    ranked = sorted(
        (sentence for sentence in candidates if sentence.score >= best / 2),
        key=lambda sentence: (-sentence.score, sentence.position),
    )
    chosen: list[_Sentence] = []
    for sentence in ranked[:max_sentences]:
        if len(_cite(sorted([*chosen, sentence], key=lambda s: s.position))) <= max_chars:
            chosen.append(sentence)
    if not chosen:
        # Even the best sentence alone is too long: shorten it rather than say nothing.
        top = ranked[0]
        marker = f" [{top.passage_number}]"
        if max_chars <= len(marker):
            return _fit(top.text, max_chars)
        return _fit(top.text, max_chars - len(marker)) + marker
    return _cite(sorted(chosen, key=lambda s: s.position))


def _sentences(context: Sequence[ContextPassage], wanted: set[str]) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    for number, passage in enumerate(context, start=1):
        weight = 1.0 + min(max(passage.source.relevance_score, 0.0), 1.0)
        for raw in _SENTENCE_END.split(passage.text):
            text = " ".join(_BULLET.sub("", raw).split())
            if len(text.split()) < 3:  # headings and fragments read badly on their own
                continue
            overlap = len(wanted & content_words(text))
            sentences.append(_Sentence(text, number, len(sentences), overlap * weight))
    return sentences


def _cite(sentences: Sequence[_Sentence]) -> str:
    """Join sentences, with one `[n]` after each run of sentences from the same passage."""
    parts: list[str] = []
    for index, sentence in enumerate(sentences):
        next_number = sentences[index + 1].passage_number if index + 1 < len(sentences) else None
        if next_number == sentence.passage_number:
            parts.append(sentence.text)
        else:
            parts.append(_with_marker(sentence.text, sentence.passage_number))
    return " ".join(parts)


def _with_marker(text: str, number: int) -> str:
    if text[-1] in ".!?":
        return f"{text[:-1]} [{number}]{text[-1]}"
    return f"{text} [{number}]"


def _fit(text: str, max_chars: int) -> str:
    """`text` cut at a word boundary to at most `max_chars` characters, with an ellipsis when cut."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 1:
        return text[: max(max_chars, 0)]
    cut = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _word_groups(text: str, words_per_piece: int) -> list[str]:
    """`text` split into pieces of a few words each; joined, the pieces give `text` back exactly."""
    words = re.findall(r"\S+\s*", text)
    leading = text[: len(text) - len(text.lstrip())]
    pieces = ["".join(words[i : i + words_per_piece]) for i in range(0, len(words), words_per_piece)]
    if pieces:
        pieces[0] = leading + pieces[0]
    return pieces

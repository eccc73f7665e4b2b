"""Choosing the sentences that answer a question, from the passages retrieved for it.

Every sentence of a quotable passage (prose or a list; see `passage_kinds`) is scored by meaning — the
cosine of its vector, stored at ingestion, with the question's — and by the question's key terms it
contains (weighted by how rare each is among the candidates), with a nudge for holding what the
question asks for (a number, a date, a name: `answer_types`). The best one anchors the answer; its
neighbours in the same passage join it while they stay on topic or go on from it ("But ..."), so the
reply reads as one stretch of the creator's text rather than a patchwork; the best sentence of a second
passage is added (its room kept before the neighbours take theirs) only when it brings terms of the
question the first did not or is nearly as good, and never repeats a sentence (overlapping chunks
share some). Whole sentences only: a list is never ended on its introduction, an
item is never cut, and the whole fits the channel's length target.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from coaching.answer_types import asked_type, holds_type
from coaching.documents.passage_kinds import is_quotable, is_quotable_sentence, is_value_row
from coaching.documents.sentences import sentence_spans
from coaching.generation import ContextPassage
from coaching.terms import content_words

# How much each signal counts in a sentence's score (meaning, terms, the passage's own relevance).
MEANING_WEIGHT, TERMS_WEIGHT, PASSAGE_WEIGHT = 0.55, 0.45, 0.1
TYPE_BONUS = 0.08  # "how many ...?" wants a sentence with a number in it, "who ...?" a name (`answer_types`)
NEIGHBOUR_SHARE = 0.45  # a neighbour joins when it scores at least this share of the anchor
SECOND_PASSAGE_SHARE = 0.6  # another passage joins when this good and adding terms of the question,
SECOND_PASSAGE_MEANING_GAP = 0.05  # ... and only when its cosine is within this of the anchor's
SECOND_PASSAGE_CLOSE = 0.85  # ... unless its whole score is within this share of the anchor's
SECOND_PASSAGE_ALONE = 0.8  # or when this good even without new terms (another view of the answer)
MIN_ANCHOR_SIMILARITY = 0.3  # with no key term in common, meaning alone must be at least this close

_ITEM = re.compile(r"^(?:[•◦▪●*-]|\d{1,3}[.)])\s+")
_REFERS_BACK = re.compile(
    r"^(?:this|these|that|those|it|they|he|she|his|her|their|its|but|so|however|also|then|instead)\b",
    re.IGNORECASE,
)
# "What should I drink instead of regular soda?": what follows names the thing to replace.
_REPLACED = re.compile(r"\b(?:instead of|rather than|in place of|other than)\s+([^,.;?!]+)", re.IGNORECASE)
REPLACED_PENALTY = 0.5  # a sentence about the very thing to be replaced is rarely the answer
QUESTION_HANDOFF = 0.9  # the sentence after a question in the material answers it: it inherits this share


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence that may be quoted: where it is, its words and its scores."""

    passage: int  # index into the context (the passage is cited as passage + 1)
    index: int  # order within the passage
    text: str  # as quoted: the bullet marker removed
    item: bool  # a list item
    words: frozenset[str]
    similarity: float | None  # cosine with the question, when its vector was stored
    terms: float  # the share of the question's key terms (idf-weighted) it contains
    score: float
    anchorable: bool  # a whole sentence that can stand first (not a fragment, heading or item)


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen sentences (in reply order) and the signals the answerability model reads."""

    chosen: tuple[Candidate, ...]
    best_similarity: float  # the best sentence cosine among all candidates (0 when none stored)
    best_terms: float  # the best share of key terms one sentence holds
    coverage: float  # the share of the question's key terms the chosen sentences hold together
    anchor_passage: int | None  # the passage the answer starts from

    @property
    def empty(self) -> bool:
        """Nothing worth quoting was found."""
        return not self.chosen


def select_sentences(
    question: str, context: Sequence[ContextPassage], max_chars: int, *, max_sentences: int = 4
) -> Selection:
    """The sentences that best answer `question` within `max_chars` (citation markers included)."""
    wanted = content_words(question)
    candidates = _candidates(question, context, wanted)
    best_similarity = max((c.similarity for c in candidates if c.similarity is not None), default=0.0)
    best_terms = max((c.terms for c in candidates), default=0.0)
    anchors = [
        c
        for c in candidates
        if c.anchorable and (c.terms > 0 or (c.similarity or 0.0) >= MIN_ANCHOR_SIMILARITY)
    ]
    if not anchors or not wanted:
        return Selection((), best_similarity, best_terms, 0.0, None)
    budget = max(max_chars, 1)
    # A sentence longer than the whole reply may be would have to be cut: one that fits is preferred.
    whole = [c for c in anchors if len(render([c])) <= budget]
    anchor = max(whole or anchors, key=lambda c: (c.score, -c.passage, -c.index))
    # The other passage's best sentence is chosen first and its room kept, so the anchor's neighbours
    # (weaker, by definition) never crowd out a second view of the answer.
    extra = _second_passage([anchor], anchor, candidates, wanted, budget, max_sentences)[1:]
    room = budget - (len(render([anchor, *extra])) - len(render([anchor])) + 1 if extra else 0)
    chosen = _grow(anchor, candidates, room, max_sentences - len(extra))
    chosen += [c for c in extra if not _repeats(c, chosen)]
    covered = set().union(*(c.words for c in chosen)) & wanted
    return Selection(tuple(chosen), best_similarity, best_terms, len(covered) / len(wanted), anchor.passage)


def replaced_terms(question: str) -> tuple[set[str], set[str]]:
    """The key terms that qualify what the question wants replaced ("regular" in "instead of regular
    soda"), and the term it names ("soda"): the first are neither wanted nor welcome in an answer."""
    match = _REPLACED.search(question)
    if match is None:
        return set(), set()
    words = [word for word in match.group(1).split() if content_words(word)]
    if not words:
        return set(), set()
    head = content_words(words[-1])
    qualifiers = (
        set().union(*(content_words(word) for word in words[:-1])) - head if len(words) > 1 else set()
    )
    return qualifiers, head


def _candidates(question: str, context: Sequence[ContextPassage], wanted: set[str]) -> list[Candidate]:
    qualifiers, _ = replaced_terms(question)
    wanted = wanted - qualifiers
    raw: list[tuple[int, int, str, bool, frozenset[str], float | None, bool]] = []
    for number, passage in enumerate(context):
        if not is_quotable(passage.kind):
            continue
        spans = [(s.start, s.end, s.similarity) for s in passage.sentences] or [
            (start, end, None) for start, end in sentence_spans(passage.text)
        ]
        for index, (start, end, similarity) in enumerate(spans):
            text = passage.text[start:end].strip()
            if not text or not is_quotable_sentence(text):
                continue
            item = bool(_ITEM.match(text))
            shown = _ITEM.sub("", text).strip().lstrip("*").strip()
            if not item and len(shown.split()) < 4:
                continue  # a heading or a scrap ("Other tips:"): neither an answer nor worth quoting beside one
            words = frozenset(content_words(shown))
            # The first sentence of an overlapping chunk may start mid-sentence: never lead with it.
            fragment = index == 0 and shown[:1].islower()
            heading = not item and shown[-1:] not in '.!?:;)"”’' and len(shown.split()) < 8
            # A question in the material (a worksheet's, a heading's) is never the answer itself.
            anchorable = len(shown.split()) >= 4 and not fragment and not heading and not shown.endswith("?")
            raw.append((number, index, shown, item, words, similarity, anchorable))
    documents = len(raw) or 1
    frequency = Counter(word for entry in raw for word in entry[4] & wanted)
    weight = {word: math.log(1 + documents / (1 + frequency[word])) for word in wanted}
    total = sum(weight.values()) or 1.0
    wants = asked_type(question)
    said = content_words(question)
    candidates: list[Candidate] = []
    for number, index, shown, item, words, similarity, anchorable in raw:
        terms = sum(weight[word] for word in words & wanted) / total
        relevance = min(max(context[number].source.relevance_score, 0.0), 1.0)
        score = TERMS_WEIGHT * terms + PASSAGE_WEIGHT * relevance
        score += MEANING_WEIGHT * similarity if similarity is not None else MEANING_WEIGHT * terms
        if holds_type(shown, wants, said):
            score += TYPE_BONUS
        if words & qualifiers:
            score *= REPLACED_PENALTY
        previous = candidates[-1] if candidates else None
        follows_question = (
            previous is not None
            and previous.passage == number
            and previous.index == index - 1
            and previous.text.endswith("?")
        )
        if previous is not None and follows_question:
            score = max(score, QUESTION_HANDOFF * previous.score)
        candidates.append(Candidate(number, index, shown, item, words, similarity, terms, score, anchorable))
    # Questions of the material hand their score on (above), and are never quoted themselves.
    return [c for c in candidates if not c.text.endswith("?")]


def _grow(anchor: Candidate, candidates: list[Candidate], budget: int, max_sentences: int) -> list[Candidate]:
    """The anchor and the neighbours that belong with it, contiguous, within the budget."""
    same = sorted((c for c in candidates if c.passage == anchor.passage), key=lambda c: c.index)
    where = {c.index: position for position, c in enumerate(same)}
    low = high = where[anchor.index]
    chosen = [anchor]

    def fits(extra: Candidate) -> bool:
        return len(render([*chosen, extra])) <= budget and len(chosen) < max_sentences

    # What the anchor leans on: "These help ..." needs the sentence before; an item needs its list's intro.
    while low > 0 and (_REFERS_BACK.match(same[low].text) or same[low].item):
        before = same[low - 1]
        if not fits(before) or not (
            before.item or before.text.endswith(":") or _REFERS_BACK.match(same[low].text)
        ):
            break
        chosen.insert(0, before)
        low -= 1
        if not before.item:
            break
    # Forward: a list the chosen text introduces, then on-topic neighbours.
    while high + 1 < len(same):
        after = same[high + 1]
        continues_list = chosen[-1].text.endswith(":") or (chosen[-1].item and after.item)
        on_topic = after.score >= NEIGHBOUR_SHARE * anchor.score
        # "But a storm dispersed the fleet." goes on from the anchor: it is the rest of its thought.
        continues_anchor = chosen[-1] is anchor and bool(_REFERS_BACK.match(after.text))
        if not (continues_list or on_topic or continues_anchor) or not fits(after):
            break
        chosen.append(after)
        high += 1
    while low > 0 and len(chosen) < max_sentences:
        before = same[low - 1]
        if before.item or before.score < NEIGHBOUR_SHARE * anchor.score or not fits(before):
            break
        chosen.insert(0, before)
        low -= 1
    # Never end on a list's introduction, nor start on an item cut from its list.
    while len(chosen) > 1 and chosen[-1].text.endswith(":"):
        chosen.pop()
    return chosen


def _second_passage(
    chosen: list[Candidate],
    anchor: Candidate,
    candidates: list[Candidate],
    wanted: set[str],
    budget: int,
    max_sentences: int,
) -> list[Candidate]:
    """Add the best sentence of another passage when it is nearly as good and brings missing terms."""
    if len(chosen) >= max_sentences:
        return chosen
    covered = set().union(*(c.words for c in chosen)) & wanted
    others = [
        c
        for c in candidates
        if c.passage != anchor.passage
        and not _repeats(c, chosen)
        and c.anchorable
        and c.score >= SECOND_PASSAGE_SHARE * anchor.score
        and ((c.words & wanted) - covered or c.score >= SECOND_PASSAGE_ALONE * anchor.score)
        and (_close_in_meaning(c, anchor) or c.score >= SECOND_PASSAGE_CLOSE * anchor.score)
    ]
    for extra in sorted(others, key=lambda c: -c.score):
        if len(render([*chosen, extra])) <= budget:
            return [*chosen, extra]
    return chosen


def _repeats(candidate: Candidate, chosen: Sequence[Candidate]) -> bool:
    """Whether the sentence says again what a chosen one says: overlapping chunks hold the same
    sentences, sometimes run into a longer one where a line break hid the stop."""
    return any(candidate.text in c.text or c.text in candidate.text for c in chosen)


def _close_in_meaning(extra: Candidate, anchor: Candidate) -> bool:
    """An added passage's sentence must be about as close to the question as the anchor (when both
    similarities are known), so a second source adds to the answer rather than changing the subject."""
    if extra.similarity is None or anchor.similarity is None:
        return True
    return extra.similarity >= anchor.similarity - SECOND_PASSAGE_MEANING_GAP


def render(chosen: Sequence[Candidate]) -> str:
    """The sentences as a reply: one `[n]` after each run from one passage; list items on their lines;
    a table row quoted as a phrase ends with a stop."""
    parts: list[str] = []
    for position, sentence in enumerate(chosen):
        following = chosen[position + 1] if position + 1 < len(chosen) else None
        text = f"• {sentence.text}" if sentence.item else sentence.text
        if is_value_row(text):
            text += "."  # a table row ("Before meals 70 to 130") ends as a sentence, not run into the next
        if following is None or following.passage != sentence.passage:
            text = with_marker(text, sentence.passage + 1)
        separator = "\n" if sentence.item or (following is not None and following.item) else " "
        parts.append(text + (separator if following is not None else ""))
    return "".join(parts)


def with_marker(text: str, number: int) -> str:
    """`text` with its citation before the final stop: "Drink water [1]."."""
    if text and text[-1] in ".!?":
        return f"{text[:-1]} [{number}]{text[-1]}"
    return f"{text} [{number}]"

"""Voice separability: how often the consistency score prefers a writer's own profile for their own text.

Every writer's documents (at most `MAX_WRITER_WORDS` words, what a standard analysis reads) are cut
into sections of whole sentences, at least `MIN_SECTIONS` per document. The sections are dealt into
`FOLDS` folds (section i goes to fold i mod `FOLDS`): for each fold, every writer's profile is
analysed exactly as for a creator (`analyse_texts`) from their other folds, and each passage of
`passage_words` words cut from the held-out fold is scored against every profile. A passage of
writer A is separated from writer B when `consistency(passage, profile A) > consistency(passage,
profile B)`. Interleaved folds cover the whole document, and no passage is ever part of the text its
writer's profile was made from.

A writer's separability is the share of their (passage, other writer) pairs that are separated; the
overall figure is the mean over writers, so a long book does not outvote a short booklet. 1.0 always
picks the right writer, 0.5 is chance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from coaching.personality.consistency import consistency
from coaching.personality.features import WORD, split_sentences
from coaching.personality.offline_analyser import analyse_texts
from coaching.personality.signature import passages_of

MAX_WRITER_WORDS = 40_000  # the service's "standard" analysis depth
SECTION_WORDS = 1000
MIN_SECTIONS = 10  # a short document is cut finer, so every fold has some of it
FOLDS = 5
DEFAULT_PASSAGE_WORDS = 150


@dataclass(frozen=True, slots=True)
class SeparabilityReport:
    """Separability overall, per writer (their passages against every other profile), and the counts."""

    separability: float
    per_writer: dict[str, float]
    passages: dict[str, int]
    pairs: int
    passage_words: int


def writer_sections(documents: Sequence[str], *, passage_words: int = DEFAULT_PASSAGE_WORDS) -> list[str]:
    """A writer's documents as sections of whole sentences, in reading order, capped in total words."""
    sections: list[str] = []
    budget = MAX_WRITER_WORDS
    for document in documents:
        sentences = split_sentences(document)
        words = sum(len(WORD.findall(sentence)) for sentence in sentences)
        size = max(2 * passage_words, min(SECTION_WORDS, min(words, budget) // MIN_SECTIONS))
        current: list[str] = []
        count = 0
        for sentence in sentences:
            if budget <= 0:
                break
            current.append(sentence)
            length = len(WORD.findall(sentence))
            count += length
            budget -= length
            if count >= size:
                sections.append(" ".join(current))
                current, count = [], 0
        if current:
            sections.append(" ".join(current))
    return sections


def separability_report(
    documents_by_writer: Mapping[str, Sequence[str]], *, passage_words: int = DEFAULT_PASSAGE_WORDS
) -> SeparabilityReport:
    """Separability of the writers' voices, with its breakdown (needs at least two writers)."""
    if len(documents_by_writer) < 2:
        raise ValueError("separability needs at least two writers")
    sections = {
        writer: writer_sections(documents, passage_words=passage_words)
        for writer, documents in documents_by_writer.items()
    }
    separated = dict.fromkeys(sections, 0)
    compared = dict.fromkeys(sections, 0)
    passages = dict.fromkeys(sections, 0)
    for fold in range(FOLDS):
        profiles = {
            writer: analyse_texts(writer, [s for i, s in enumerate(parts) if i % FOLDS != fold])
            for writer, parts in sections.items()
        }
        for writer, parts in sections.items():
            for section in parts[fold::FOLDS]:
                for passage in passages_of(section, passage_words):
                    passages[writer] += 1
                    scores = {
                        other: consistency(passage, profile).score for other, profile in profiles.items()
                    }
                    for other, score in scores.items():
                        if other != writer:
                            compared[writer] += 1
                            separated[writer] += scores[writer] > score
    per_writer = {writer: separated[writer] / compared[writer] for writer in sections if compared[writer]}
    return SeparabilityReport(
        separability=round(sum(per_writer.values()) / len(per_writer), 4) if per_writer else 0.0,
        per_writer={writer: round(value, 4) for writer, value in per_writer.items()},
        passages=passages,
        pairs=sum(compared.values()),
        passage_words=passage_words,
    )


def voice_separability(
    documents_by_writer: Mapping[str, Sequence[str]], *, passage_words: int = DEFAULT_PASSAGE_WORDS
) -> float:
    """The share of held-out passages scored closer to their own writer's profile than to another's."""
    return separability_report(documents_by_writer, passage_words=passage_words).separability

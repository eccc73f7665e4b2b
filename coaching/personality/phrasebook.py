"""A creator's phrasebook: the openers, closers and transitions they use, taken from their documents.

Nothing here is written by Coachline: every phrase is a sentence or a sentence opening that occurs in
the creator's own documents, chosen by rules that can be checked:

- a *usable sentence* is the creator's own (no quotation marks: not someone they quote), 4-22 words,
  starts with a capital and ends with `.` or `!`, stands on its own (does not start with "But",
  "And", "This", "It", ... that point back to a sentence it would be read without), is not inside a
  quotation that spans sentences, and makes no particular claim: no digits, brackets,
  colons or lists, no names (no capitalised word after the first, besides "I"), no pointer to the
  page ("these", "following", "below", "chart", ...), and no he/she/they (an anecdote about someone
  is not the creator speaking to the reader);
- `reader_address`: usable sentences that speak to the reader ("you", "your", or the archaic
  "thou/thee/thy/thine/ye");
- `encouragements`: usable sentences to the reader or to "us" with a word of encouragement
  (`lexicons.LEXICONS["encouragement"]`) and no negation;
- `closers`: usable sentences that exhort: they start with an instruction (`IMPERATIVE_VERBS`,
  perhaps after "now") or "let us", or say what the reader or "we" can, must,
  shall or will do;
- `openers`: usable sentences to the reader (or to "us") of at most `OPENER_MAX_WORDS` words that
  are not exhortations;
- `transitions`: sentence openings the creator uses at least twice that only add or continue
  ("Again,", "Moreover,", "In the same way,"), never ones that claim a cause or a contrast, since
  they are put between quotes that the creator did not join that way;
- `phrasings`: the creator's most repeated three-word phrases used across several sections;
- `characteristic_words`: the content words they use most widely across their sections.

Sentences to the reader rank first, then by generality, the mean share of the document's ten sections their words occur
in (a sentence about one topic ranks low), then brevity; `PER_KIND` of each kind are kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from coaching.personality.features import IMPERATIVE_VERBS, WORD, split_sentences, word_list, words_of
from coaching.personality.lexicons import LEXICONS
from coaching.personality.stylometry import FIRST_PLURAL, FUNCTION_WORD_SET, SECOND_PERSON_ALL, THIRD_PERSON

_FIELDS = (
    "openers",
    "closers",
    "transitions",
    "reader_address",
    "encouragements",
    "phrasings",
    "characteristic_words",
)
PER_KIND = 5  # phrases kept of each kind
MIN_WORDS, MAX_WORDS = 4, 22
SECTIONS = 10  # the text is cut into this many equal parts to measure how widely a word is used
MIN_TRANSITION_USES = 2
OPENER_MAX_WORDS = 16
# Sentence openings that only add or continue: safe to put between two quotes.
ADDITIVE_TRANSITIONS = frozenset(
    [
        "again",
        "also",
        "moreover",
        "furthermore",
        "further",
        "besides",
        "likewise",
        "similarly",
        "in addition",
        "in the same way",
        "in like manner",
        "so too",
        "equally",
        "and again",
        "once again",
        "what is more",
        "add to this",
        "above all",
        "remember",
        "finally",
    ]
)
_NEGATIONS = frozenset(["not", "no", "never", "nor", "don't", "can't", "cannot", "won't", "nothing", "none"])
_UNUSABLE = re.compile(r"[\d\[\]()\"“”:|/@#*_=<>{}•]|\.\.|https?|www\.|--")
_PARAGRAPH = re.compile(r"\n\s*\n")
_OPENING = re.compile(r"^([A-Z][a-z]+(?: [a-z]+){0,3}),\s")
_ABBREVIATION_END = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Messrs|Mt|Jr|Sr|No|Vol|vs|etc|i\.e|e\.g)\.$")
# "can" is in the encouragement lexicon, but "Ketones can make you sick" encourages no one.
_ENCOURAGING = LEXICONS["encouragement"] - {"can"}
_QUOTE_MARK = re.compile(r"[\"“”‘]|’(?![A-Za-z])")
_LEAD_INS = frozenset(["now"])
_DEPENDENT_STARTS = frozenset(
    word_list("but and or nor yet so for then thus therefore hence this that these those it such there also")
)
_POINTERS = frozenset(
    ["these", "following", "below", "above", "page", "pages", "chart", "table", "booklet", "chapter", "here"]
)
_MODALS = frozenset(["can", "must", "shall", "will", "may"])
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PHRASE_STOPWORDS = FUNCTION_WORD_SET | frozenset(["s", "t", "thing", "things"])


@dataclass(frozen=True, slots=True)
class Phrasebook:
    """Phrases from the creator's own documents, each kind chosen by a measurable rule (see the module)."""

    openers: tuple[str, ...] = ()
    closers: tuple[str, ...] = ()
    transitions: tuple[str, ...] = ()
    reader_address: tuple[str, ...] = ()
    encouragements: tuple[str, ...] = ()
    phrasings: tuple[str, ...] = ()
    characteristic_words: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the profile."""
        return {name: list(getattr(self, name)) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Phrasebook:
        """The inverse of `to_dict` (missing kinds are empty)."""
        return cls(**{name: tuple(str(item) for item in data.get(name, ())) for name in _FIELDS})

    def phrases(self) -> tuple[str, ...]:
        """Every sentence and opening the book holds (what answers may be dressed with)."""
        return (*self.openers, *self.closers, *self.transitions, *self.reader_address, *self.encouragements)


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    words: tuple[str, ...]
    first_in_paragraph: bool
    last_in_paragraph: bool
    generality: float


def extract_phrasebook(texts: Sequence[str]) -> Phrasebook:
    """The creator's phrasebook, from their documents (one string per document)."""
    text = "\n\n".join(texts)
    spread = _word_spread(text)
    candidates = list(_usable_sentences(text, spread))

    def ranked(chosen: Iterable[_Candidate]) -> tuple[str, ...]:
        order = sorted(
            chosen, key=lambda c: (not SECOND_PERSON_ALL & set(c.words), -c.generality, len(c.words), c.text)
        )
        return tuple(dict.fromkeys(c.text for c in order))[:PER_KIND]

    to_reader = [c for c in candidates if SECOND_PERSON_ALL & set(c.words)]
    encouraging = [
        c
        for c in candidates
        if (SECOND_PERSON_ALL | FIRST_PLURAL) & set(c.words)
        and _ENCOURAGING & set(c.words)
        and not _NEGATIONS & set(c.words)
    ]
    closers = [c for c in candidates if _exhorts(c)]
    openers = [
        c
        for c in candidates
        if c.text.endswith(".")
        and len(c.words) <= OPENER_MAX_WORDS
        and not _exhorts(c)
        and (SECOND_PERSON_ALL | FIRST_PLURAL) & set(c.words)
    ]
    content = Counter({word: share for word, share in spread.items() if word not in _PHRASE_STOPWORDS})
    return Phrasebook(
        openers=ranked(openers),
        closers=ranked(closers),
        transitions=_transitions(text),
        reader_address=ranked(to_reader),
        encouragements=ranked(encouraging),
        phrasings=_phrasings(text),
        characteristic_words=tuple(
            word for word, _ in sorted(content.items(), key=lambda item: (-item[1], item[0]))[:12]
        ),
    )


def _word_spread(text: str) -> dict[str, float]:
    """For every word, the share of the text's `SECTIONS` equal parts it occurs in."""
    words = words_of(text)
    if not words:
        return {}
    size = max(1, -(-len(words) // SECTIONS))
    parts = [set(words[start : start + size]) for start in range(0, len(words), size)]
    seen = Counter(word for part in parts for word in part)
    return {word: count / len(parts) for word, count in seen.items()}


def _usable_sentences(text: str, spread: dict[str, float]) -> Iterable[_Candidate]:
    for paragraph in _PARAGRAPH.split(text):
        sentences = split_sentences(paragraph)
        open_quotes = 0
        for index, sentence in enumerate(sentences):
            quoted = open_quotes > 0
            open_quotes = max(0, open_quotes + _quote_balance(sentence))
            if quoted or _QUOTE_MARK.search(sentence):
                continue  # someone the creator quotes, not the creator
            words = tuple(words_of(sentence))
            if not MIN_WORDS <= len(words) <= MAX_WORDS or _UNUSABLE.search(sentence):
                continue
            if not sentence[0].isupper() or sentence[-1] not in ".!" or WORD.findall(sentence)[0].isupper():
                continue  # a fragment, or a chapter's first word in capitals ("THE body is ...")
            if words[0] in _DEPENDENT_STARTS:
                continue  # "But this, we think, ..." needs the sentence before it
            if _ABBREVIATION_END.search(sentence):
                continue  # "The career of Mr." is a splitting accident, not a sentence
            if any(word[0].isupper() and word != "I" for word in WORD.findall(sentence)[1:]):
                continue  # names and titles: about someone in particular
            if _POINTERS & set(words):
                continue  # refers to the page it stood on
            if THIRD_PERSON & set(words):
                continue  # about someone else: an anecdote, not the creator speaking to the reader
            generality = sum(spread.get(word, 0.0) for word in words) / len(words)
            yield _Candidate(sentence, words, index == 0, index == len(sentences) - 1, round(generality, 4))


def _quote_balance(sentence: str) -> int:
    """Quotations a sentence opens minus those it closes (straight double quotes count as opening)."""
    opened = sentence.count("“") + sentence.count("‘") + sentence.count('"') % 2
    closed = sentence.count("”") + len(re.findall(r"’(?![A-Za-z])", sentence))
    return opened - closed


def _exhorts(candidate: _Candidate) -> bool:
    """An instruction ("Keep ...", "Now try ..."), "let us", or what the reader or "we" can, must, shall or will do."""
    words = candidate.words[1:] if candidate.words[0] in _LEAD_INS else candidate.words
    if words[0] in IMPERATIVE_VERBS or words[:2] == ("let", "us"):
        return True
    return any(first in SECOND_PERSON_ALL | {"we"} and second in _MODALS for first, second in pairwise(words))


def _transitions(text: str) -> tuple[str, ...]:
    """Additive sentence openings the creator uses at least `MIN_TRANSITION_USES` times, most used first."""
    uses: Counter[str] = Counter()
    for sentence in split_sentences(text):
        if _UNUSABLE.search(sentence[:40]):
            continue
        match = _OPENING.match(sentence)
        if match and match.group(1).lower() in ADDITIVE_TRANSITIONS:
            uses[match.group(1) + ","] += 1
    return tuple(opening for opening, count in uses.most_common(PER_KIND) if count >= MIN_TRANSITION_USES)


def _phrasings(text: str) -> tuple[str, ...]:
    """The most repeated three-word phrases (within a sentence, no numbers, at least one content word)
    that occur at least three times, in at least three of the text's sections."""
    sentences = [_TOKEN.findall(sentence.lower().replace("’", "'")) for sentence in split_sentences(text)]
    total = sum(len(tokens) for tokens in sentences)
    size = max(1, -(-total // SECTIONS))
    counts: Counter[str] = Counter()
    sections: dict[str, set[int]] = {}
    position = 0
    for tokens in sentences:
        for index in range(len(tokens) - 2):
            trigram = tokens[index : index + 3]
            if any(token[0].isdigit() for token in trigram) or all(t in _PHRASE_STOPWORDS for t in trigram):
                continue
            phrase = " ".join(trigram)
            counts[phrase] += 1
            sections.setdefault(phrase, set()).add((position + index) // size)
        position += len(tokens)
    widely = [phrase for phrase, n in counts.most_common() if n >= 3 and len(sections[phrase]) >= 3]
    return tuple(widely[:PER_KIND])

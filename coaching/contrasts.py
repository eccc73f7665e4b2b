"""What a question asserts that the quoted material does not: the cues of a question written against a
text it cannot be answered from.

Unanswerable questions are rarely off topic: they are the material's own sentence with one thing
changed (SQuAD v2's were written that way on purpose). The changes these checks look for:
- a name or a number swapped for one the material does not hold ("What Frank led ...?", "in 1250");
- a modifier swapped for its opposite ("a *flexible* set of rules" against "a *fixed* set of rules",
  "*softest*" against "hardest", "*rarely*" against "usually"), including by a prefix ("unknown",
  "non-binary"), or a count changed ("*three* finite graphs" against "two finite graphs");
- an ordinal, superlative or order word the material does not say ("first", "largest", "before");
- a negation added ("What did they *never* ...?"): `answerability` checks that one.

Each check is a plain reading of the words (`terms.content_words`), so a decline can be explained.
"""

from __future__ import annotations

import re

from coaching.terms import WORD, content_words, stem, word_list

# Opposites: when the question says one and the material the other, the question is about something
# the material does not say. Stemmed on load, so "increases"/"decreasing" pair too.
_OPPOSITES = word_list(
    "more less|most least|first last|before after|increase decrease|large small|larger smaller|"
    "largest smallest|big small|bigger smaller|biggest smallest|high low|higher lower|highest lowest|"
    "early late|earlier later|earliest latest|positive negative|always never|usually rarely|"
    "often rarely|frequently rarely|single multiple|hard soft|harder softer|hardest softest|"
    "fixed flexible|strong weak|stronger weaker|strongest weakest|rich poor|old new|older newer|"
    "oldest newest|long short|longer shorter|longest shortest|fast slow|faster slower|good bad|"
    "better worse|best worst|major minor|north south|east west|northern southern|eastern western|"
    "upper lower|inner outer|male female|men women|win lose|won lost|open closed|private public|"
    "internal external|include exclude|accept reject|success failure|rise fall|gain loss|"
    "maximum minimum|above below|inside outside|start end|begin end|legal illegal|common rare|"
    "same different|similar different|true false|allow forbid|easy difficult|easier harder|"
    "simple complex|heavy light|wide narrow|deep shallow|top bottom|ancient modern|past future|"
    "import export|buy sell|bought sold|lend borrow|friend enemy|ally enemy|victory defeat|war peace|"
    "love hate|agree disagree|support oppose|arrive depart|enter leave|add remove|create destroy|"
    "build destroy|built destroyed|finite infinite|few many|fewer more|fewest most|minority majority|"
    "younger older|youngest oldest|birth death|born died|summer winter|day night|sweet sour|"
    "healthy unhealthy|safe unsafe|raise lower|full empty|hot cold|warm cool|wet dry|precede succeed|"
    "precedes succeeds|preceded succeeded|solved unsolved|lot little|much little|all none|everything nothing",
    "|",
)
_NEGATING_PREFIXES = ("un", "in", "im", "non", "dis", "ir", "il")
# Words that pick one thing out of several: the material must say the same to answer.
_ORDER_WORDS = frozenset(
    stem(word)
    for word in word_list(
        "first second third fourth fifth last final next previous earliest latest most least largest "
        "smallest biggest highest lowest best worst before after only main primary oldest newest youngest "
        "longest shortest greatest fastest slowest strongest weakest richest poorest easiest hardest "
        "cheapest dearest nearest farthest furthest widest deepest heaviest lightest"
    )
)
_NON = re.compile(r"\bnon[- ]?([a-z]{4,})")
_COUNT_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\\d+"
_COUNTED = re.compile(rf"\b({_COUNT_WORDS})\s+(?:[a-z]+\s+)?([a-z]{{3,}})\b")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w'’-]*")
_NUMBER = re.compile(
    r"\b(?:\d+(?:[.,]\d+)*(?:st|nd|rd|th|s)?)\b",
    re.IGNORECASE,
)


def _opposites() -> dict[str, frozenset[str]]:
    pairs: dict[str, set[str]] = {}
    for pair in _OPPOSITES:
        one, other = (stem(word) for word in pair.split())
        pairs.setdefault(one, set()).add(other)
        pairs.setdefault(other, set()).add(one)
    return {word: frozenset(others) for word, others in pairs.items()}


OPPOSITES = _opposites()


def names_held(question: str, quoted: str) -> float:
    """The share of the names the question mentions (its capitalised words after the first) that the
    quoted sentences hold; 1 when it names nothing."""
    names = set().union(*(content_words(name) for name in _NAME.findall(question)))
    if not names:
        return 1.0
    return len(names & content_words(quoted)) / len(names)


def numbers_held(question: str, material: str) -> float:
    """The share of the numbers the question says ("1066", "10th", "3.5") that the material says too;
    1 when it says none. Digits only: "What are three examples ...?" asks for three, it changes nothing."""
    numbers = {number.lower() for number in _NUMBER.findall(question)}
    if not numbers:
        return 1.0
    said = {number.lower() for number in _NUMBER.findall(material)}
    return len(numbers & said) / len(numbers)


def all_words(text: str) -> set[str]:
    """Every word, stemmed, stopwords kept: "more", "after" and "only" are the words that matter here."""
    return {stem(word) for word in WORD.findall(text.lower().replace("’", "'"))}


def swapped_words(question: str, quoted: str) -> set[str]:
    """The question's words that the quoted sentences contradict: missing there while their opposite
    (a listed opposite, or the word with or without a negating prefix) is present, or a count the
    quoted sentences give differently for the same thing."""
    asked, held = all_words(question), all_words(quoted)
    swapped = {word for word in asked - held if OPPOSITES.get(word, frozenset()) & held}
    # A prefix only on content words long enough to carry one ("in" + "to" is not a negation).
    for word in content_words(question) - held:
        related = {prefix + word for prefix in _NEGATING_PREFIXES} | {
            word[len(prefix) :]
            for prefix in _NEGATING_PREFIXES
            if word.startswith(prefix) and len(word) > len(prefix) + 3
        }
        if related & held:
            swapped.add(word)
    # "non-binary" asked, "binary" quoted without a "non".
    swapped |= {word for word in _NON.findall(question.lower()) if stem(word) in held and "non" not in held}
    # "three finite graphs" asked, "two finite graphs" quoted: the same thing counted differently.
    counted = {stem(thing): count for count, thing in _COUNTED.findall(quoted.lower())}
    swapped |= {
        count
        for count, thing in _COUNTED.findall(question.lower())
        if counted.get(stem(thing), count) != count
    }
    return swapped


def modifiers_kept(question: str, quoted: str) -> float:
    """0 when the quoted sentences contradict a word of the question (`swapped_words`); else the share
    of the question's order words ("first", "largest", "before") they also say, 1 when it has none."""
    if swapped_words(question, quoted):
        return 0.0
    ordered = all_words(question) & _ORDER_WORDS
    if not ordered:
        return 1.0
    return len(ordered & all_words(quoted)) / len(ordered)

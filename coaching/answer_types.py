"""What kind of thing a question asks for, and whether a sentence holds one: "how many" wants a number,
"when" a date, "who" a name, "where" a place.

A cue, not a parser: it only nudges sentence choice and feeds the answerability model ("when" asked
and no date in the best sentence is a sign the material does not answer it).
"""

from __future__ import annotations

import re

from coaching.terms import content_words

NUMBER, DATE, NAME = "number", "date", "name"

_ASKS = (
    (
        DATE,
        re.compile(
            r"^\W*when\b|\bwhen (?:did|was|were|is|are|does|do|will|would|can|could|should|has|had|have)\b|"
            r"\b(?:what (?:year|century|decade|date|day|month|period|era)|which (?:year|century|decade)|"
            r"in what (?:year|century|decade)|how long ago)\b",
            re.IGNORECASE,
        ),
    ),
    (
        NUMBER,
        re.compile(
            r"\b(?:how (?:many|much|long|often|big|old|far|large|small|tall|high|heavy|fast)|"
            r"what (?:percent(?:age)?|number|amount|age|size|proportion|share|fraction)|"
            r"what is the (?:number|amount|size|population|rate|cost|price))\b",
            re.IGNORECASE,
        ),
    ),
    (
        NAME,
        re.compile(
            r"\b(?:who|whom|whose|where|what (?:country|city|region|state|place|nation|town|river|language|"
            r"company|organi[sz]ation|name|team|university|empire|king|queen)|which (?:country|city|region|"
            r"state|person|team|company|empire))\b",
            re.IGNORECASE,
        ),
    ),
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|half|dozen|several"
)
_HAS_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_HAS_DATE = re.compile(
    rf"\b(?:\d{{3,4}}s?|\d{{1,2}}(?:st|nd|rd|th) centur(?:y|ies)|(?:{_MONTHS})|centur(?:y|ies)|decades?|"
    r"today|yesterday|(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z\u00c0-\u017f'’-]+")


def asked_type(question: str) -> str | None:
    """`number`, `date` or `name` when the question asks for one, else None."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def holds_type(sentence: str, kind: str | None, said: set[str]) -> bool:
    """Whether `sentence` holds something of `kind`; a name must be one the question does not already
    say (`said`: the question's `content_words`)."""
    if kind is None:
        return False
    if kind == NUMBER:
        return bool(_HAS_NUMBER.search(sentence))
    if kind == DATE:
        return bool(_HAS_DATE.search(sentence))
    return any(not content_words(word) <= said for word in _CAPITALISED.findall(sentence))

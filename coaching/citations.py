"""Citations that match: every `[n]` in a reply names exactly one listed source, and every listed source
is cited.

A generator cites passages by their number in the context it was given ([1]..[k], most relevant
first). The reader sees only the sources the reply cites, so the numbers are rewritten to the order
of first citation: the first source cited is [1], the next new one [2]. Passages with the same label
(document and location) are one source with one number, marked once after a run of consecutive
sentences from it; a marker naming no passage is dropped.
`Renumbering` does this piece by piece, for replies streamed to the channel as they are written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.foundation.messages import Source
from coaching.generation import ContextPassage

CITATION = re.compile(r"\[(\d{1,3})\]")
_PARTIAL = re.compile(r"\[\d{0,3}$")  # a marker cut by the end of a streamed piece
_REPEATED = re.compile(r"(\[\d{1,3}\])(?:\s*\1)+")  # "[1] [1]" after two passages became one source
# "... meal [1]. When you want ... [1].": a marker whose next marker, sentences later, is the same one.
_CARRIED = re.compile(r"[ \t]?\[(\d{1,3})\](?=[.!?][\"”’)]*\s+[^\[]*\[\1\])")
_LOOSE_SPACE = re.compile(r"[ \t]+([.,;:!?])")


def source_key(source: Source) -> tuple[str, str]:
    """What makes two passages one source for the reader: the document and the location shown."""
    return (source.document, source.location)


class Renumbering:
    """Rewrites passage numbers to citation order; feed it a reply whole or piece by piece."""

    def __init__(self, context: Sequence[ContextPassage]) -> None:
        self._context = tuple(context)
        self._order: list[tuple[str, str]] = []
        self._sources: list[Source] = []
        self._held = ""

    @property
    def sources(self) -> tuple[Source, ...]:
        """The sources cited so far, in citation order: source i is `[i + 1]`."""
        return tuple(self._sources)

    def feed(self, piece: str) -> str:
        """The renumbered text of `piece`, holding back a marker cut at its end until the next piece."""
        text = self._held + piece
        partial = _PARTIAL.search(text)
        self._held = text[partial.start() :] if partial else ""
        ready = text[: partial.start()] if partial else text
        return CITATION.sub(self._replace, ready)

    def finish(self) -> str:
        """Whatever was held back at the end."""
        rest, self._held = self._held, ""
        return CITATION.sub(self._replace, rest)

    def _replace(self, match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= len(self._context):
            return ""  # names no passage: better no marker than a wrong one
        source = self._context[number - 1].source
        key = source_key(source)
        if key not in self._order:
            self._order.append(key)
            self._sources.append(source)
        return f"[{self._order.index(key) + 1}]"


def renumber(text: str, context: Sequence[ContextPassage]) -> tuple[str, tuple[Source, ...]]:
    """`text` with its citations in citation order, and the sources they name (see the module doc)."""
    renumbering = Renumbering(context)
    renumbered = renumbering.feed(text) + renumbering.finish()
    return tidy(renumbered), renumbering.sources


def tidy(text: str) -> str:
    """Repeated markers merged, one marker for consecutive sentences from one source (after the last),
    and spaces left before punctuation by dropped markers removed."""
    return _LOOSE_SPACE.sub(r"\1", _CARRIED.sub("", _REPEATED.sub(r"\1", text)))


def citation_mismatches(text: str, sources: Sequence[Source]) -> list[str]:
    """What is wrong with a reply's citations against the sources shown with it (empty: they match).

    Every `[n]` must name a listed source, every listed source must be cited, and no source may be
    listed twice.
    """
    cited = {int(match.group(1)) for match in CITATION.finditer(text)}
    problems = [f"[{n}] names no listed source" for n in sorted(cited) if not 1 <= n <= len(sources)]
    problems += [
        f"source [{n}] is listed but never cited" for n in range(1, len(sources) + 1) if n not in cited
    ]
    seen: dict[tuple[str, str], int] = {}
    for number, source in enumerate(sources, start=1):
        key = source_key(source)
        if key in seen:
            problems.append(f"sources [{seen[key]}] and [{number}] are the same")
        seen.setdefault(key, number)
    return problems

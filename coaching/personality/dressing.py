"""An extractive answer dressed in the creator's own words: an opener, a closer, and a transition.

The answer's quoted sentences are never changed: the dressing only adds whole sentences from the
creator's phrasebook before and after them, and at most one additive transition ("Again,") before
the quote of a second passage, whose first letter is then lowercased only when its first word is a
function word ("The", "It", "You"; never a name or "I"). Dressing takes at most as many characters
as the answer itself, never repeats a sentence the answer already holds, and is left out piece by
piece when the length limit does not allow it.

The opener and the closer must share the question's topic: the creator's phrase sharing the most
topic words (key words that say what something is about, not "keep" or "day") with the question wins,
so "Your food shapes your strength." opens an answer about food; among equals the choice depends on
the question, stably. When none shares a topic word, only a neutral phrase of the creator's (one with
no topic word, "You can do this.") may frame the answer, else none does: "You don't need a diet."
never opens an answer about sleep. (Shared words, not shared themes: "If you would renew your body,
beautify your mind." is about the mind, but put before quotes about thoughts it made Allen's reply
read as the booklet's to the consistency check; a phrase that says the question's own word is safer.) (The question's words, not the answer's: the quotes already carry the answer's topic, and
matching them drew openers that read as another writer's to the consistency check.)
"""

from __future__ import annotations

import re
import zlib

from coaching.citations import CITATION
from coaching.generation import ReplyStyle
from coaching.personality.features import WORD
from coaching.personality.stylometry import FUNCTION_WORD_SET
from coaching.terms import content_words, word_list

# Words that say nothing of what a sentence is about: sharing "keep" or "day" is sharing no topic.
GENERIC_WORDS = frozenset(
    content_words(
        " ".join(
            word_list(
                "keep make take get go do don't need want thing way time day week good well better try start "
                "use find help know let come give put see look like feel lot much many little every always "
                "never often still ever even really yourself one two something before after down up think check "
                "you'll you've you're you'd"
            )
        )
    )
)
# A citation that ends a run of quoted sentences, then the next run: "... mind [1]. The ..."
_NEXT_PASSAGE = re.compile(r"(\[\d{1,2}\][.!?]?)\s+(?=[A-Z])")


def in_voice(answer: str, question: str, style: ReplyStyle, max_chars: int) -> str:
    """The answer framed by one of the creator's openers and closers, as far as the length allows.

    The phrases nearest the topic are chosen; among equals the choice depends on the question, stably,
    so the same question always gets the same words.
    """
    pick = zlib.crc32(question.encode())
    body = _with_transition(answer, style.transitions, pick)
    asked = _topic(question)
    # "You don't need a gym [1]." quotes the phrase "You don't need a gym.": it is not said twice.
    quoted = " ".join(CITATION.sub("", answer).split()).replace(" .", ".")
    unused = [phrase for phrase in style.openers if phrase not in quoted]
    opener = _on_topic(unused, asked, pick)
    unused = [phrase for phrase in style.closers if phrase not in quoted and phrase != opener]
    closer = _on_topic(unused, asked, pick // 7)
    for parts in ((opener, body, closer), (opener, body), (body, closer), (body,), (answer,)):
        text = " ".join(part for part in parts if part)
        if len(text) <= max_chars and len(text) - len(answer) <= len(answer):
            return text
    return answer


def _topic(text: str) -> set[str]:
    """What a text is about: its key words, less the generic ones."""
    return content_words(text) - GENERIC_WORDS


def _on_topic(phrases: list[str], asked: set[str], pick: int) -> str:
    """The phrase sharing most of the question's topic; among equals, the `pick`-th; with none sharing
    it, a neutral phrase (no topic of its own); "" when there is neither."""
    topics = [_topic(phrase) for phrase in phrases]
    overlap = [len(topic & asked) for topic in topics]
    if overlap and max(overlap) > 0:
        nearest = [phrase for phrase, shared in zip(phrases, overlap, strict=True) if shared == max(overlap)]
    else:
        nearest = [phrase for phrase, topic in zip(phrases, topics, strict=True) if not topic]
    return nearest[pick % len(nearest)] if nearest else ""


def _with_transition(answer: str, transitions: tuple[str, ...], pick: int) -> str:
    """One of the creator's transitions before the second passage's quote, when it reads correctly."""
    if not transitions:
        return answer
    match = _NEXT_PASSAGE.search(answer)
    if match is None:
        return answer
    rest = answer[match.end() :]
    first = WORD.match(rest)
    if first is None or first.group(0) == "I" or first.group(0).lower() not in FUNCTION_WORD_SET:
        return answer  # lowercasing a name, or "I", would change the quote
    transition = transitions[pick % len(transitions)]
    return f"{answer[: match.end()]}{transition} {rest[0].lower()}{rest[1:]}"

"""Outgoing text for Slack: mrkdwn escaping, a little Markdown translated, long answers split in parts.

Slack reads `&`, `<` and `>` as control characters: `<@U123>` mentions someone, `<!channel>` pings a
whole channel, `<https://x|label>` is a link. Every piece of text that did not come from us (the
model's answer, a document's title, what a person wrote) is escaped, so none of it can mention,
ping or link anyone; only the links we build ourselves from Markdown `[label](https://...)` survive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.foundation.messages import Button, OutgoingMessage, Source, source_labels

# A part of a long answer. Slack accepts 40,000 characters, but clients truncate text past 4,000 and
# a section block holds 3,000: parts of 3,000 stay whole everywhere and are easier to read.
PART_CHARS = 3000
# Block Kit limits: 25 elements in an actions block, 75 characters of button text, 2,000 of value.
_BUTTONS_PER_BLOCK = 25
_BUTTON_LABEL_CHARS = 75
_BUTTON_VALUE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class SlackPost:
    """One `chat.postMessage` call: the mrkdwn text and, when there are buttons, Block Kit blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def escape(text: str) -> str:
    """Escape Slack's three control characters, so the text shows as written and links nothing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s()<>|]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)


def to_mrkdwn(markdown: str) -> str:
    """The model's Markdown as Slack mrkdwn: escaped, with bold, headings, bullets and http(s) links kept.

    Code spans and fences are escaped but otherwise left alone (Slack renders them the same way).
    """
    pieces: list[str] = []
    position = 0
    for code in _CODE.finditer(markdown):
        pieces.append(_prose_to_mrkdwn(markdown[position : code.start()]))
        pieces.append(escape(code.group(0)))
        position = code.end()
    pieces.append(_prose_to_mrkdwn(markdown[position:]))
    return "".join(pieces)


def _prose_to_mrkdwn(text: str) -> str:
    text = escape(text)
    # Escaping leaves `[`, `]`, `(` and `)` alone, and the URL pattern admits no `<`, `>` or `|`:
    # the only links that come out are the ones written as Markdown links to http(s) addresses.
    text = _LINK.sub(lambda match: f"<{match.group(2)}|{match.group(1)}>", text)
    text = _BOLD.sub(lambda match: f"*{match.group(1) or match.group(2)}*", text)
    text = _HEADING.sub(lambda match: f"*{match.group(1)}*", text)
    return _BULLET.sub(lambda match: f"{match.group(1)}• ", text)


def mrkdwn_length(markdown: str) -> int:
    """An upper bound of the length of `to_mrkdwn(markdown)`: the translation itself never lengthens."""
    return len(escape(markdown))


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Cut `text` into parts no longer than `limit` (as `measure` counts), at the gentlest boundary.

    Paragraphs are kept together when they fit, then lines, then sentences, then words; a single
    word longer than a part is cut where it must be. A code fence cut in two is closed at the end of
    one part and reopened at the start of the next, so both render as code.
    """
    if limit < 16:
        raise ValueError("a part must hold at least 16 characters")
    text = text.strip()
    if measure(text) <= limit:
        return [text] if text else []
    # Room for a fence closed and reopened around a cut.
    parts = _pack(text, limit - 8, measure, separators=("\n\n", "\n", _SENTENCE_END, " "))
    return _balance_fences([part for part in parts if part])


def _pack(
    text: str, limit: int, measure: Callable[[str], int], separators: Sequence[str | re.Pattern[str]]
) -> list[str]:
    """Greedily join the pieces `text` splits into at the first separator, recursing into oversize ones."""
    if measure(text) <= limit:
        return [text]
    if not separators:
        return _hard_cut(text, limit, measure)
    separator, rest = separators[0], separators[1:]
    if isinstance(separator, str):
        pieces, joiner = text.split(separator), separator
    else:
        pieces, joiner = separator.split(text), " "
    if len(pieces) == 1:
        return _pack(text, limit, measure, rest)
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}{joiner}{piece}" if current else piece
        if measure(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            parts.append(current.strip())
        if measure(piece) <= limit:
            current = piece
        else:
            *whole, current = _pack(piece, limit, measure, rest)
            parts.extend(whole)
    if current.strip():
        parts.append(current.strip())
    return parts or [""]  # only blanks: nothing worth a part


def _hard_cut(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    parts: list[str] = []
    while text:
        end = min(len(text), limit)
        while end > 1 and measure(text[:end]) > limit:
            end -= 1
        parts.append(text[:end])
        text = text[end:]
    return parts


def _balance_fences(parts: list[str]) -> list[str]:
    balanced: list[str] = []
    open_fence = False
    for part in parts:
        if open_fence:
            part = "```\n" + part
        if part.count("```") % 2 == 1:
            part += "\n```"
            open_fence = True
        else:
            open_fence = False
        balanced.append(part)
    return balanced


def sources_line(sources: Sequence[Source]) -> str:
    """The sources as one compact, escaped mrkdwn line: `_Sources: Sleep guide (page 4); Notes_`."""
    labels = source_labels(tuple(sources))
    return f"_Sources: {escape('; '.join(labels))}_" if labels else ""


def button_blocks(text: str, buttons: Sequence[Button]) -> list[dict[str, Any]]:
    """A section with `text` followed by the buttons (Block Kit `actions`, at most 25 a block)."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    for start in range(0, len(buttons), _BUTTONS_PER_BLOCK):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"coach_button_{index}",
                        # plain_text is never parsed for mentions: no escaping wanted here.
                        "text": {"type": "plain_text", "text": button.label[:_BUTTON_LABEL_CHARS]},
                        "value": button.value[:_BUTTON_VALUE_CHARS],
                    }
                    for index, button in enumerate(buttons[start : start + _BUTTONS_PER_BLOCK], start=start)
                ],
            }
        )
    return blocks


def render(message: OutgoingMessage, limit: int = PART_CHARS) -> list[SlackPost]:
    """The `chat.postMessage` calls that deliver `message`: its parts, sources after the last one,
    buttons under the last one."""
    parts = [to_mrkdwn(part) for part in split_text(message.text, limit, mrkdwn_length)]
    sources = sources_line(message.sources)
    if sources:
        if parts and len(parts[-1]) + 1 + len(sources) <= limit:
            parts[-1] = f"{parts[-1]}\n{sources}"
        else:
            parts.append(sources[:limit])
    if not parts and message.buttons:
        parts = ["Choose one:"]
    posts = [SlackPost(part) for part in parts]
    if message.buttons and posts:
        last = posts[-1].text
        posts[-1] = SlackPost(last, button_blocks(last, message.buttons))
    return posts

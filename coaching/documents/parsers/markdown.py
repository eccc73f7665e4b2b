"""Markdown (CommonMark with tables): headings, paragraphs, lists, tables and code, front matter's title."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from markdown_it import MarkdownIt
from markdown_it.token import Token

from coaching.documents.model import ParsedDocument
from coaching.documents.parsers.cleaning import clean_line, list_item
from coaching.documents.parsers.encoding import decode_text
from coaching.documents.parsers.html import fragment_text
from coaching.documents.parsers.sections import SectionBuilder

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*[\"']?(.+?)[\"']?\s*$", re.MULTILINE)


def parse_markdown(filename: str, data: bytes) -> ParsedDocument:
    """A Markdown file: front matter's title, headings, paragraphs, lists, tables and code blocks."""
    text = decode_text(data)
    title: str | None = None
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_MATTER_TITLE.search(front.group(1))
        title = clean_line(found.group(1)) if found else None
        text = text[front.end() :]
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sections = SectionBuilder()
    _MarkdownReader(sections).read(tokens)
    return sections.document("md", filename, title or sections.first_heading)


@dataclass
class _MarkdownReader:
    """Walks markdown-it's flat token stream, keeping lists and tables together as blocks."""

    sections: SectionBuilder
    _list_lines: list[str] = field(default_factory=list)
    _list_numbers: list[int | None] = field(default_factory=list)
    _table_rows: list[str] = field(default_factory=list)
    _row: list[str] = field(default_factory=list)
    _item_open: bool = False
    _in_table: bool = False

    def read(self, tokens: Sequence[Token]) -> None:
        """Add every heading, paragraph, list, table and code block of `tokens`."""
        for index, token in enumerate(tokens):
            handler = self._HANDLERS.get(token.type)
            if handler is not None:
                handler(self, token, tokens, index)

    def _heading(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self.sections.heading(int(token.tag[1:]), _inline_text(tokens[index + 1]))

    def _inline(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        previous = tokens[index - 1].type if index else ""
        text = _inline_text(token)
        if self._in_table:
            self._row.append(clean_line(text))
        elif previous == "heading_open":
            return
        elif self._list_numbers:
            self._list_text(text)
        else:
            self.sections.paragraph(text)

    def _list_text(self, text: str) -> None:
        if self._item_open:
            depth = len(self._list_numbers) - 1
            number = self._list_numbers[-1]
            self._list_lines.append(list_item(text, depth, number))
            self._item_open = False
        elif self._list_lines:
            self._list_lines[-1] += f" {clean_line(text)}"

    def _list_open(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        start = token.attrGet("start")
        self._list_numbers.append(
            (int(start) if isinstance(start, int | str) else 1) if token.tag == "ol" else None
        )

    def _list_close(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._list_numbers.pop()
        if not self._list_numbers:
            self.sections.block("\n".join(self._list_lines))
            self._list_lines = []

    def _item_start(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._item_open = True

    def _item_end(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        number = self._list_numbers[-1]
        if number is not None:
            self._list_numbers[-1] = number + 1
        self._item_open = False

    def _code(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        if self._list_numbers:
            self._list_text(token.content)
        else:
            self.sections.block(token.content)

    def _html(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self.sections.paragraph(fragment_text(token.content))

    def _table_open(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._in_table = True

    def _table_close(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        self._in_table = False
        self.sections.block("\n".join(self._table_rows))
        self._table_rows = []

    def _row_close(self, token: Token, tokens: Sequence[Token], index: int) -> None:
        if any(self._row):
            self._table_rows.append(" | ".join(self._row))
        self._row = []

    _HANDLERS: ClassVar[dict[str, Callable[[_MarkdownReader, Token, Sequence[Token], int], None]]] = {
        "heading_open": _heading,
        "inline": _inline,
        "bullet_list_open": _list_open,
        "ordered_list_open": _list_open,
        "bullet_list_close": _list_close,
        "ordered_list_close": _list_close,
        "list_item_open": _item_start,
        "list_item_close": _item_end,
        "fence": _code,
        "code_block": _code,
        "html_block": _html,
        "table_open": _table_open,
        "table_close": _table_close,
        "tr_close": _row_close,
    }


def _inline_text(token: Token) -> str:
    """The plain text of an inline token: emphasis and link markup dropped, image alt text kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "html_inline":
            continue
    return "".join(parts)

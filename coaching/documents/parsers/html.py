"""HTML pages: the text of the page without scripts, styles and site chrome; headings, lists, tables."""

from __future__ import annotations

from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Tag
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

from coaching.documents.model import DocumentRejected, ParsedDocument
from coaching.documents.parsers.cleaning import clean_line, list_item
from coaching.documents.parsers.encoding import decode_text
from coaching.documents.parsers.sections import SectionBuilder

# Deeper HTML/list nesting than this is read as flat text instead of recursed into.
MAX_NESTING = 100
# Building BeautifulSoup's tree costs ~20 µs per element: this bounds an HTML parse to a few seconds.
MAX_HTML_ELEMENTS = 200_000

# Scripts, styles and site chrome are not the coach's content.
_DROPPED_TAGS = frozenset(
    {"script", "style", "nav", "noscript", "template", "svg", "iframe", "object", "embed", "canvas", "head"}
    | {"footer", "button", "select", "textarea"}
)
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "aside", "blockquote", "figure", "figcaption"}
    | {
        "address",
        "details",
        "summary",
        "dl",
        "dt",
        "dd",
        "li",
        "hr",
        "br",
        "body",
        "html",
        "form",
        "fieldset",
    }
    | {"center", "caption", "legend", "td", "th", "tr", "tbody", "thead", "tfoot"}
)
_SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)


def parse_html(filename: str, data: bytes) -> ParsedDocument:
    """An HTML page: its <title>, headings, lists, tables and paragraphs; scripts and site chrome dropped."""
    if data.count(b"<") > MAX_HTML_ELEMENTS:
        raise DocumentRejected(
            f"the HTML page has more than {MAX_HTML_ELEMENTS:,} elements; save it as PDF or plain text instead"
        )
    soup = BeautifulSoup(decode_text(data), "html.parser")
    title_tag = soup.find("title")
    title = clean_line(title_tag.get_text(" ")) if isinstance(title_tag, Tag) else ""
    for tag in soup.find_all(list(_DROPPED_TAGS)):
        tag.decompose()
    sections = SectionBuilder()
    _HtmlReader(sections).read(soup)
    return sections.document("html", filename, title or sections.first_heading)


@dataclass
class _HtmlReader:
    """Walks the tree: inline text gathers into paragraphs, block elements end them."""

    sections: SectionBuilder
    _inline: list[str] = field(default_factory=list)

    def read(self, root: Tag) -> None:
        """Add every heading, paragraph, list and table under `root`."""
        self._walk(root, 0)
        self._flush()

    def _walk(self, node: Tag, depth: int) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIPPED_STRINGS):
                    self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._element(child, depth + 1)

    def _element(self, tag: Tag, depth: int) -> None:
        name = tag.name.lower()
        if depth > MAX_NESTING:
            self._inline.append(tag.get_text(" "))
        elif name in _HEADING_TAGS:
            self._flush()
            self.sections.heading(_HEADING_TAGS[name], tag.get_text(" "))
        elif name in ("ul", "ol"):
            self._flush()
            self.sections.block("\n".join(_html_list(tag, 0)))
        elif name == "table":
            self._flush()
            self.sections.block(_html_table(tag))
        elif name == "pre":
            self._flush()
            self.sections.block(tag.get_text())
        elif name in _BLOCK_TAGS:
            self._flush()
            self._walk(tag, depth)
            self._flush()
        else:
            self._walk(tag, depth)

    def _flush(self) -> None:
        if self._inline:
            self.sections.paragraph("".join(self._inline))
            self._inline = []


def _html_list(tag: Tag, depth: int) -> list[str]:
    numbered = tag.name.lower() == "ol"
    lines: list[str] = []
    for number, item in enumerate(tag.find_all("li", recursive=False), start=1):
        if not isinstance(item, Tag):
            continue
        own: list[str] = []
        nested: list[Tag] = []
        for child in item.children:
            if isinstance(child, Tag) and child.name in ("ul", "ol"):
                nested.append(child)
            elif isinstance(child, Tag):
                own.append(child.get_text())
            elif isinstance(child, NavigableString) and not isinstance(child, _SKIPPED_STRINGS):
                own.append(str(child))
        lines.append(list_item("".join(own), depth, number if numbered else None))
        if depth < MAX_NESTING:
            for child in nested:
                lines.extend(_html_list(child, depth + 1))
    return lines


def _html_table(table: Tag) -> str:
    rows: list[str] = []
    for row in table.find_all("tr"):
        if isinstance(row, Tag):
            cells = [clean_line(cell.get_text(" ")) for cell in row.find_all(["td", "th"], recursive=False)]
            if any(cells):
                rows.append(" | ".join(cells))
    return "\n".join(rows)


def fragment_text(html: str) -> str:
    """The text of an HTML fragment (such as raw HTML inside Markdown), without scripts and chrome."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(list(_DROPPED_TAGS)):
        tag.decompose()
    return soup.get_text(" ")

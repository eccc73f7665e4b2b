"""Building a document's sections: the heading path at each point, and cleaned, non-empty text under it."""

from __future__ import annotations

from dataclasses import dataclass, field

from coaching.documents.model import HEADING_SEPARATOR, DocumentKind, ParsedDocument, Section
from coaching.documents.parsers.cleaning import HAS_WORD, clean_block, clean_line, title_from_filename


@dataclass
class Outline:
    """The heading path at the current point of a document."""

    _stack: list[tuple[int, str]] = field(default_factory=list)

    def enter(self, level: int, title: str) -> None:
        """A heading of `level` (1 = top) starts; deeper and equal headings end."""
        title = clean_line(title)
        if not title:
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    @property
    def path(self) -> str | None:
        """The headings from the top down, or None before the first heading."""
        return HEADING_SEPARATOR.join(title for _, title in self._stack) or None

    @property
    def first(self) -> str | None:
        """The outermost heading of the current path, if any."""
        return self._stack[0][1] if self._stack else None


@dataclass
class SectionBuilder:
    """Collects cleaned, non-empty sections under the current heading."""

    outline: Outline = field(default_factory=Outline)
    items: list[Section] = field(default_factory=list)
    first_heading: str | None = None

    def heading(self, level: int, title: str) -> None:
        """Enter a heading; the first one is remembered as a fallback title."""
        self.outline.enter(level, title)
        if self.first_heading is None:
            self.first_heading = self.outline.first

    def paragraph(self, text: str, page: int | None = None) -> None:
        """Add a paragraph; its lines are joined."""
        self._add(clean_line(text.replace("\n", " ")), page)

    def block(self, text: str, page: int | None = None) -> None:
        """Add a list, table or code block; its lines are kept."""
        self._add(clean_block(text), page)

    def document(
        self,
        kind: DocumentKind,
        filename: str,
        title: str | None,
        *,
        pages: int | None = None,
        warnings: tuple[str, ...] = (),
    ) -> ParsedDocument:
        """The parsed document of these sections, titled `title` or else after its file name."""
        return ParsedDocument(
            title=title or title_from_filename(filename),
            kind=kind,
            sections=tuple(self.items),
            pages=pages,
            warnings=warnings,
        )

    def _add(self, text: str, page: int | None) -> None:
        if HAS_WORD.search(text):
            self.items.append(Section(text=text, heading=self.outline.path, page=page))

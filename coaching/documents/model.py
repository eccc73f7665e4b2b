"""What a parsed document and its chunks look like, and how a rejected upload is reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DocumentKind = Literal["pdf", "docx", "txt", "md", "html"]

# Joins the levels of a heading path: "Eating out › Restaurants".
HEADING_SEPARATOR = " › "


@dataclass(frozen=True, slots=True)
class Section:
    """A structural unit of a document: a paragraph, or a list or table block.

    `text` may hold several lines (list items, table rows "cell | cell"); `heading` is the path of
    headings it sits under ("Eating out › Restaurants"); `page` is 1-based, for PDFs only.
    """

    text: str
    heading: str | None
    page: int | None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A document reduced to its text, in reading order, with user-facing notes on what was skipped."""

    title: str
    kind: DocumentKind
    sections: tuple[Section, ...]
    pages: int | None
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document.

    `position` is the 0-based order in the document, `page` the 1-based page the chunk's own text
    starts on (PDFs), and `location` a short citation such as "page 4, Eating out" or "part 3".
    """

    text: str
    position: int
    heading: str | None
    page: int | None
    location: str

    @property
    def embedding_text(self) -> str:
        """The text to embed: the heading path, then the chunk text.

        A chunk such as "Examples of 1 serving: 1 small apple" only matches a question about fruit
        through its heading, so the heading belongs in the vector; `text` stays the document's own
        words for quoting and citing.
        """
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


class DocumentRejected(ValueError):  # noqa: N818 - it is a verdict on the upload, not a program error
    """An upload that cannot be used; `reason` is a sentence to show the user as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

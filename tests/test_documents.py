"""Parsing and chunking creators' documents: the real fixture files, small inline samples, hostile input."""

from __future__ import annotations

import hashlib
import io
import itertools
import statistics
import struct
import zipfile
from functools import cache

import pypdf
import pytest

from coaching.documents import (
    Chunk,
    DocumentRejected,
    ParsedDocument,
    Section,
    chunk_document,
    content_hash,
    parse_document,
)
from tests.support.documents import GUIDE_PAGES, guide_docx, make_pdf, text_pdf
from tests.support.shared_fixtures import shared_fixture

PDF = "niddk_eating_diabetes_508.pdf"
TXT = "as_a_man_thinketh_james_allen.txt"
WORD_SAMPLE = "docling_word_sample.docx"
HEADERS = "docling_unit_test_headers.docx"
LIMIT = 20 * 1024 * 1024
TARGET, OVERLAP, MIN = 1000, 150, 80

# The real documents (`fixture_bytes`) test the parsers against the wild; the tests below that use
# `text_pdf`/`guide_docx` (documents written here) cover each format in a clone without `../shared`.


@cache
def fixture_bytes(name: str) -> bytes:
    """A real document from `../shared/fixtures/docs` (the test is skipped in a clone without it)."""
    return shared_fixture("docs", name).read_bytes()


@cache
def parsed(name: str) -> ParsedDocument:
    return parse_document(name, fixture_bytes(name), max_bytes=LIMIT)


@cache
def chunks_of(name: str) -> tuple[Chunk, ...]:
    return tuple(chunk_document(parsed(name)))


def rejection(filename: str, data: bytes, *, max_bytes: int = LIMIT) -> str:
    with pytest.raises(DocumentRejected) as caught:
        parse_document(filename, data, max_bytes=max_bytes)
    assert str(caught.value) == caught.value.reason
    assert "Traceback" not in caught.value.reason
    return caught.value.reason


def encrypted(pdf: bytes, *, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def declare_size(archive: bytes, name: str, size: int) -> bytes:
    """The archive with `name`'s uncompressed size in the central directory rewritten: a lying header."""
    data = bytearray(archive)
    entry = data.find(b"PK\x01\x02")  # the first central directory record
    while entry != -1:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46 : entry + 46 + name_length] == name.encode():
            struct.pack_into("<I", data, entry + 24, size)
            return bytes(data)
        entry = data.find(b"PK\x01\x02", entry + 4)
    raise AssertionError(f"{name} not in archive")


def overlap(previous: str, following: str) -> int:
    """How many leading characters of `following` repeat the end of `previous`."""
    return max(
        (size for size in range(1, len(following) + 1) if previous.endswith(following[:size])), default=0
    )


def assert_chunk_invariants(chunks: tuple[Chunk, ...] | list[Chunk]) -> None:
    assert chunks
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= TARGET + MIN
        assert chunk.location
    for previous, following in itertools.pairwise(chunks):
        if previous.heading == following.heading:
            assert overlap(previous.text, following.text) >= 30, (previous.text[-200:], following.text[:200])
            assert overlap(previous.text, following.text) <= OVERLAP
        else:
            assert overlap(previous.text, following.text) < 10  # no text carried across a heading


# --- the NIDDK booklet (PDF) ---------------------------------------------------------------------


def test_pdf_has_its_pages_title_and_a_warning_naming_the_pages_without_text() -> None:
    document = parsed(PDF)

    assert document.kind == "pdf"
    assert document.pages == 52
    assert document.title == "What I need to know about Eating and Diabetes"
    assert document.warnings == ("pages 2, 4, 6 have no text layer (scanned images?) and were skipped",)
    assert {section.page for section in document.sections} == set(range(1, 53)) - {2, 4, 6}


def test_pdf_chunks_cite_the_page_and_bookmark_of_a_known_sentence() -> None:
    chunks = chunks_of(PDF)
    sentence = "Alcoholic drinks have calories but no nutrients."

    holding = [chunk for chunk in chunks if sentence in chunk.text]

    assert holding
    assert holding[0].page == 43
    assert holding[0].heading == "Alcoholic Drinks"
    assert holding[0].location == "page 43, Alcoholic Drinks"
    assert all(chunk.page is not None and 1 <= chunk.page <= 52 for chunk in chunks)
    assert not {chunk.page for chunk in chunks} & {2, 4, 6}


def test_pdf_text_is_cleaned_of_page_numbers_kerning_gaps_and_broken_lines() -> None:
    chunks = chunks_of(PDF)
    starches = next(chunk for chunk in chunks if chunk.heading == "Starches")
    text = "\n".join(chunk.text for chunk in chunks)

    assert (
        "Whole grain starches are healthier because they have more vitamins, minerals, and fiber."
        in starches.text
    )
    assert starches.page == 19
    assert "Talk with your doctor" in text and "T alk" not in text and "Y ou " not in text
    assert "\n13\n" not in starches.text and not starches.text.endswith(" 13")
    # A compound broken at a line end keeps its hyphen because the booklet spells it so elsewhere.
    assert "low-fat" in text and "lowfat" not in text


def test_pdf_chunks_stay_within_bounds_and_overlap_within_a_section() -> None:
    assert_chunk_invariants(chunks_of(PDF))


# --- As a Man Thinketh (Project Gutenberg TXT) -------------------------------------------------------

CHAPTERS = [
    "THOUGHT AND CHARACTER",
    "EFFECT OF THOUGHT ON CIRCUMSTANCES",
    "EFFECT OF THOUGHT ON HEALTH AND THE BODY",
    "THOUGHT AND PURPOSE",
    "THE THOUGHT-FACTOR IN ACHIEVEMENT",
    "VISIONS AND IDEALS",
    "SERENITY",
]


def test_gutenberg_header_footer_and_licence_are_gone() -> None:
    document = parsed(TXT)
    text = "\n".join(chunk.text for chunk in chunks_of(TXT))

    assert document.kind == "txt"
    assert document.title == "As a Man Thinketh"
    for boilerplate in ("Gutenberg", "GUTENBERG", "LICENSE", "Produced by", "***", "www.gutenberg", "\r"):
        assert boilerplate not in text
    assert "_Mind is the Master" not in text and "Mind is the Master power" in text  # _italics_ marks dropped


def test_gutenberg_chapter_titles_become_headings() -> None:
    chunks = chunks_of(TXT)
    headings = [chunk.heading for chunk in chunks]

    assert [heading for heading in dict.fromkeys(headings) if heading in CHAPTERS] == CHAPTERS
    serenity = next(chunk for chunk in chunks if chunk.text.startswith("CALMNESS of mind"))
    assert serenity.heading == "SERENITY"
    assert serenity.location == "section 'SERENITY'"
    assert not any(chapter in chunk.text for chunk in chunks for chapter in CHAPTERS[1:])


def test_gutenberg_chunks_stay_within_bounds_and_overlap_within_a_section() -> None:
    chunks = chunks_of(TXT)

    assert_chunk_invariants(chunks)
    assert statistics.mean(len(chunk.text) for chunk in chunks) > 500  # paragraphs were packed


# --- docling's DOCX samples ----------------------------------------------------------------------


def test_docx_heading_levels_build_heading_paths() -> None:
    document = parsed(HEADERS)
    by_heading = {section.heading: section.text for section in document.sections}

    assert document.kind == "docx"
    assert document.title == "Test Document"
    assert by_heading["Section 1"] == "Paragraph 1.2"
    assert by_heading["Section 1 › Section 1.2 › Section 1.2.3"] == "Paragraph 1.2.3.1"
    assert by_heading["Section 2 › Section 2.1.1"] == "Paragraph 2.1.1.1"  # a skipped level still nests
    assert by_heading["Section 2 › Section 2.1"] == "Paragraph 2.1.2"  # a shallower heading pops back
    locations = [chunk.location for chunk in chunks_of(HEADERS)]
    assert locations[:2] == ["section 'Section 1'", "section 'Section 1.1'"]


def test_docx_keeps_lists_and_tables_under_their_headings() -> None:
    document = parsed(WORD_SAMPLE)
    chunks = chunks_of(WORD_SAMPLE)
    eat = next(chunk for chunk in chunks if chunk.heading == "Let’s swim! › Let’s eat")

    assert document.title == "Swimming in the lake"
    assert "Swimming in the lake" not in {section.text for section in document.sections}
    swim = next(
        section.text
        for section in document.sections
        if section.heading == "Let’s swim!" and "•" in section.text
    )
    assert swim.splitlines()[:2] == ["• You can relax and look around", "• Paddle about"]
    assert "Leaves | Ash, Elm, Maple | 50" in eat.text.splitlines()
    assert "Berries | Blueberry, Strawberry, Cranberry | 150" in eat.text.splitlines()
    assert eat.embedding_text.startswith("Let’s swim! › Let’s eat\n\n")
    assert_chunk_invariants(chunks)


# --- plain text, Markdown and HTML samples -------------------------------------------------------


def test_text_encodings_line_endings_and_headings() -> None:
    cp1252 = b"MORNING ROUTINE\r\n\r\nStart with a caf\xe9 and a \x93quiet\x94 walk.\r\nThen\r\nstretch.\r\n"
    document = parse_document("routine.txt", cp1252, max_bytes=LIMIT)

    assert document.title == "MORNING ROUTINE"
    assert document.sections == (
        Section(
            text="Start with a café and a “quiet” walk. Then stretch.", heading="MORNING ROUTINE", page=None
        ),
    )
    bom = parse_document("a.txt", "\ufeffZoë’s plan.".encode(), max_bytes=LIMIT)
    assert bom.sections[0].text == "Zoë’s plan."
    assert bom.title == "a"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Ça va très bien : où est la gare ?", "cp1252"),
        ("Привет! Как вы спите? Ложитесь до полуночи.", "cp1251"),
        ("Zażółć gęślą jaźń, proszę pana.", "cp1250"),
        ("Ελληνικά κείμενα για τον ύπνο.", "cp1253"),
        ("こんにちは、よく眠れましたか。", "shift_jis"),
    ],
)
def test_text_in_a_legacy_code_page_is_read_in_its_own_alphabet(text: str, encoding: str) -> None:
    document = parse_document("note.txt", text.encode(encoding), max_bytes=LIMIT)

    assert document.sections[0].text == text


def test_markdown_headings_lists_tables_and_front_matter() -> None:
    markdown = b"""---
title: Coaching Guide
---
# Eating out

Intro with **bold** and a [link](https://example.org).

## Restaurants

- Ask for sauces on the side
- Share a dessert
  - with a friend

| Dish | Calories |
|------|----------|
| Salad | 150 |

# Sleep

Go to bed at the same time.
"""
    document = parse_document("guide.md", markdown, max_bytes=LIMIT)

    assert document.kind == "md"
    assert document.title == "Coaching Guide"
    assert [(section.heading, section.text) for section in document.sections] == [
        ("Eating out", "Intro with bold and a link."),
        ("Eating out › Restaurants", "• Ask for sauces on the side\n• Share a dessert\n◦ with a friend"),
        ("Eating out › Restaurants", "Dish | Calories\nSalad | 150"),
        ("Sleep", "Go to bed at the same time."),
    ]
    assert [chunk.location for chunk in chunk_document(document)] == [
        "section 'Eating out'",
        "section 'Restaurants'",
        "section 'Sleep'",
    ]


def test_html_drops_scripts_styles_and_navigation() -> None:
    html = b"""<!doctype html><html><head><title>Meal tips</title><style>p { color: red }</style>
<script>alert("hi")</script></head><body><nav>Home | About</nav>
<h1>Eating out</h1><p>Choose <b>grilled</b> food.</p><div>Ask questions<p>Nested paragraph</p></div>
<h2>Restaurants</h2><ol><li>Order water</li><li>Share</li></ol>
<table><tr><th>Dish</th><th>kcal</th></tr><tr><td>Soup</td><td>90</td></tr></table>
<!-- a comment --><footer>(c) 2024</footer></body></html>"""
    document = parse_document("tips.html", html, max_bytes=LIMIT)
    text = "\n".join(section.text for section in document.sections)

    assert document.title == "Meal tips"
    assert [(section.heading, section.text) for section in document.sections] == [
        ("Eating out", "Choose grilled food."),
        ("Eating out", "Ask questions"),
        ("Eating out", "Nested paragraph"),
        ("Eating out › Restaurants", "1. Order water\n2. Share"),
        ("Eating out › Restaurants", "Dish | kcal\nSoup | 90"),
    ]
    for dropped in ("alert", "color", "Home", "comment", "2024"):
        assert dropped not in text


def test_deeply_nested_html_is_read_without_recursion_errors() -> None:
    depth = 20_000
    html = ("<div>" * depth + "deep text" + "</div>" * depth).encode()

    # 20 times Python's recursion limit: a recursive walk would raise; no stopwatch (pytest-timeout ends
    # a pathological parse).
    document = parse_document("deep.html", html, max_bytes=LIMIT)

    assert document.sections[0].text == "deep text"


# --- chunking ------------------------------------------------------------------------------------


def doc(*sections: Section) -> ParsedDocument:
    return ParsedDocument(title="t", kind="txt", sections=sections, pages=None, warnings=())


def test_a_heading_change_always_starts_a_new_chunk() -> None:
    chunks = chunk_document(
        doc(Section("One short line.", "A", None), Section("Another short line.", "B", None))
    )

    assert [(chunk.text, chunk.heading) for chunk in chunks] == [
        ("One short line.", "A"),
        ("Another short line.", "B"),
    ]


def test_paragraphs_of_one_heading_are_packed_and_long_ones_split_between_sentences() -> None:
    sentence = "Eat slowly and notice when you are full {}."
    paragraph = " ".join(sentence.format(number) for number in range(60))
    chunks = chunk_document(doc(Section("Short intro.", "Meals", None), Section(paragraph, "Meals", None)))

    assert chunks[0].text.startswith("Short intro.\nEat slowly")
    assert len(chunks) > 2
    assert_chunk_invariants(chunks)
    for chunk in chunks:
        assert chunk.text.endswith(".")  # cut between sentences, never inside one
        assert chunk.text[0].isupper()  # and the overlap starts on a sentence, too


def test_overlong_words_are_cut_to_fit() -> None:
    chunks = chunk_document(doc(Section("x" * 5000, None, None)))

    assert "".join(chunk.text for chunk in chunks).count("x") >= 5000
    assert all(len(chunk.text) <= TARGET for chunk in chunks)
    assert [chunk.location for chunk in chunks][:2] == ["part 1", "part 2"]


def test_a_small_trailing_piece_joins_the_chunk_before() -> None:
    body = " ".join(["word"] * 180)  # 899 characters
    chunks = chunk_document(doc(Section(body, "H", None), Section("Tail end.", "H", None)))

    assert len(chunks) == 1
    assert chunks[0].text.endswith("\nTail end.")


def test_pdf_chunks_keep_the_page_they_start_on() -> None:
    sections = [
        Section(f"Page {page} says something worth knowing. " * 15, "Sleep › Naps", page)
        for page in (3, 4, 5)
    ]
    chunks = chunk_document(ParsedDocument("t", "pdf", tuple(sections), 5, ()))

    assert [chunk.page for chunk in chunks] == [3, 4, 5]
    assert chunks[0].location == "page 3, Naps"
    assert chunks[0].embedding_text == f"Sleep › Naps\n\n{chunks[0].text}"
    packed = chunk_document(
        ParsedDocument("t", "pdf", (Section("a b c", None, 3), Section("d e f", None, 4)), 4, ())
    )
    assert [(chunk.page, chunk.location) for chunk in packed] == [(3, "pages 3–4")]


def test_chunk_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        chunk_document(doc(Section("text", None, None)), target_chars=200, overlap_chars=150)


def test_a_written_pdf_and_docx_keep_their_pages_and_headings() -> None:
    pdf = parse_document("guide.pdf", text_pdf(), max_bytes=LIMIT)
    docx = parse_document("guide.docx", guide_docx(), max_bytes=LIMIT)

    assert [section.page for section in pdf.sections] == [1, 2, 3]
    assert "Fill half of your plate with vegetables" in pdf.sections[0].text
    assert docx.title == "Eating well with a busy week"
    assert [section.heading for section in docx.sections] == [heading for heading, _ in GUIDE_PAGES]
    chunks = chunk_document(docx)
    assert any("seven to nine hours of sleep" in chunk.text for chunk in chunks)


def test_content_hash_is_the_sha256_of_the_bytes() -> None:
    data = guide_docx()

    assert content_hash(data) == hashlib.sha256(data).hexdigest()
    assert content_hash(data) != content_hash(data + b"\x00")


# --- bad input -----------------------------------------------------------------------------------


def test_unsupported_extensions_are_rejected_with_the_supported_list() -> None:
    assert rejection("setup.exe", b"MZ\x90\x00") == (
        "'.exe' files are not supported; upload PDF, DOCX, TXT, Markdown or HTML"
    )
    assert "not supported" in rejection("README", b"hello")


def test_content_that_does_not_match_the_extension_is_rejected() -> None:
    assert "contains a PDF" in rejection("notes.txt", make_pdf([["hello"]]))
    assert "is named '.pdf'" in rejection("notes.pdf", b"just some text")
    assert "is named '.docx'" in rejection("notes.docx", make_pdf([["hello"]]))
    assert "not a Word document" in rejection("archive.docx", zip_bytes({"readme.txt": b"hi"}))
    assert "binary" in rejection("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_empty_files_are_rejected() -> None:
    assert rejection("empty.txt", b"") == "the file has no text"
    assert rejection("blank.md", b"  \r\n\r\n\t") == "the file has no text"
    assert rejection("blank.html", b"<html><script>x()</script></html>") == "the file has no text"


def test_a_truncated_pdf_is_rejected_as_damaged() -> None:
    data = text_pdf()

    assert rejection("booklet.pdf", data[: len(data) // 2]) == "the PDF could not be read (it may be damaged)"


def test_a_password_protected_pdf_is_rejected_but_an_owner_only_password_is_fine() -> None:
    pdf = make_pdf([["Hydrate before training."]])

    assert "password-protected" in rejection("locked.pdf", encrypted(pdf, user_password="secret"))
    opened = parse_document("restricted.pdf", encrypted(pdf, user_password=""), max_bytes=LIMIT)
    assert opened.sections[0].text == "Hydrate before training."


def test_a_pdf_with_only_blank_pages_is_rejected_as_scanned() -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)

    assert rejection("scan.pdf", out.getvalue()) == (
        "this PDF has no text layer (it looks scanned); upload a text PDF or a DOCX"
    )
    assert "no text layer" in rejection(
        "scans.pdf", make_pdf([[], [], ["4"]])
    )  # a page number alone is no text


def test_pdf_clean_up_on_a_built_pdf() -> None:
    header = "Coaching Handbook 2024"
    pages = [
        [
            header,
            "Good nutri-",
            "tion matters for every-",
            "one. Eat low-",
            "fat food. Choose low-fat milk.",
            "1",
        ],
        [header, "Sleep eight hours.", "2"],
        [],
        [header, "Walk daily.", "Page 4 of 4"],
    ]
    document = parse_document("handbook.pdf", make_pdf(pages), max_bytes=LIMIT)

    assert [(section.page, section.text) for section in document.sections] == [
        (1, "Good nutrition matters for everyone. Eat low-fat food. Choose low-fat milk."),
        (2, "Sleep eight hours."),
        (4, "Walk daily."),
    ]
    assert document.warnings == ("page 3 has no text layer (a scanned image?) and was skipped",)
    assert document.title == "handbook"


def test_oversize_files_are_rejected_with_size_and_limit() -> None:
    reason = rejection("big.txt", b"a" * (3 * 1024 * 1024), max_bytes=2 * 1024 * 1024)

    assert reason == "the file is 3 MB; the limit is 2 MB"


def test_a_docx_zip_bomb_is_rejected_before_it_is_unpacked() -> None:
    xml = b"<w:document>" + b"<w:t>a</w:t>" * 1_000_000 + b"</w:document>"  # 12 MB, deflates ~1000:1
    bomb = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": xml})
    assert len(bomb) < 100_000
    assert "zip bomb" in rejection("bomb.docx", bomb)

    small = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    liar = declare_size(small, "word/document.xml", 3_000_000_000)
    assert "zip bomb" in rejection("liar.docx", liar)


def test_a_docx_with_broken_xml_is_rejected_without_a_stack_trace() -> None:
    broken = zip_bytes({"[Content_Types].xml": b"<Types", "word/document.xml": b"<w:document"})

    assert rejection("broken.docx", broken) == "the DOCX file could not be read (it may be damaged)"


@pytest.mark.parametrize("name", ["../notes.txt", "..\\notes.txt", "a/b.txt", "notes\x00.txt", ".."])
def test_file_names_with_path_parts_are_rejected(name: str) -> None:
    assert rejection(name, b"hello") == "file names may not contain path separators"

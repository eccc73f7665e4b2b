"""Voice bench: how well the consistency score tells writers apart, and two creators answering alike.

`python -m bench.voice` prints, for the three writers in `../shared/fixtures/docs/` (Allen, Smiles and
the NIDDK booklet), the separability of their voices on held-out passages of several lengths
(`coaching/personality/separability.py` defines it), what each one's phrasebook holds, and the
offline answer each creator's twin gives to the same question. `--fixtures DIR` reads another folder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.foundation.messages import Source
from coaching.documents import parse_document
from coaching.generation import ContextPassage, GenerationRequest
from coaching.offline import OfflineGenerator, content_words
from coaching.personality.offline_analyser import analyse_texts
from coaching.personality.separability import separability_report
from coaching.personality.signature import passages_of
from coaching.personality.voice import persona_from_profile
from tests.support.shared_fixtures import SHARED_FIXTURES as FIXTURES

WRITERS = {
    "Allen": "as_a_man_thinketh_james_allen.txt",
    "Smiles": "self_help_samuel_smiles.txt",
    "NIDDK": "niddk_eating_diabetes_508.pdf",
}
PASSAGE_LENGTHS = (60, 150, 300)
QUESTION = "How can I keep going when progress is slow?"


def fixture_writers(fixtures: Path = FIXTURES) -> dict[str, list[str]]:
    """The fixture writers' documents as text (empty when the fixtures are not there)."""
    docs = fixtures / "docs"
    writers: dict[str, list[str]] = {}
    for writer, name in WRITERS.items():
        if (docs / name).exists():
            parsed = parse_document(name, (docs / name).read_bytes(), max_bytes=50_000_000)
            writers[writer] = ["\n\n".join(section.text for section in parsed.sections)]
    return writers


def separability_table(writers: dict[str, list[str]], lengths: Sequence[int] = PASSAGE_LENGTHS) -> Table:
    """Separability per writer and overall, one column per passage length."""
    table = Table(title="Voice separability (own profile preferred over another's, held-out passages)")
    table.add_column("writer")
    reports = []
    for length in lengths:
        started = time.process_time()
        reports.append(separability_report(writers, passage_words=length))
        table.add_column(f"{length}-word passages (n; {time.process_time() - started:.0f} s cpu)")
    for writer in writers:
        table.add_row(writer, *(f"{r.per_writer.get(writer, 0):.3f} ({r.passages[writer]})" for r in reports))
    table.add_row("all (mean of writers)", *(f"{r.separability:.3f} ({r.pairs} pairs)" for r in reports))
    return table


def answers_table(writers: dict[str, list[str]], question: str) -> Table:
    """Each creator's offline answer to the same question, from their three best-matching passages."""
    table = Table(title=f"One question, each creator's twin (offline): {question!r}", show_lines=True)
    table.add_column("creator")
    table.add_column("reply")
    wanted = content_words(question)
    for writer, documents in writers.items():
        profile = analyse_texts(writer, documents)
        passages = [p for document in documents for p in passages_of(document, 80)]
        best = sorted(passages, key=lambda p: -len(wanted & content_words(p)))[:3]
        context = tuple(
            ContextPassage(text, Source(document=writer, location=f"passage {n}", relevance_score=0.5))
            for n, text in enumerate(best, start=1)
        )
        request = GenerationRequest(
            persona=persona_from_profile(profile, writer), question=question, context=context, max_chars=700
        )
        table.add_row(writer, OfflineGenerator().reply(request))
    return table


def phrasebook_table(writers: dict[str, list[str]]) -> Table:
    """How many phrases of each kind every creator's phrasebook holds, and the first opener and closer."""
    table = Table(title="Phrasebooks (from each creator's own documents)")
    for column in ("creator", "openers", "closers", "transitions", "to the reader", "first closer"):
        table.add_column(column)
    for writer, documents in writers.items():
        book = analyse_texts(writer, documents).phrasebook
        table.add_row(
            writer,
            str(len(book.openers)),
            str(len(book.closers)),
            " / ".join(book.transitions) or "-",
            str(len(book.reader_address)),
            book.closers[0] if book.closers else "-",
        )
    return table


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--lengths", default=",".join(str(n) for n in PASSAGE_LENGTHS))
    args = parser.parse_args()
    console = Console(width=140)
    writers = fixture_writers(args.fixtures)
    if len(writers) < 2:
        console.print(f"needs the fixture documents in {args.fixtures / 'docs'}; not found")
        return
    console.print(separability_table(writers, [int(n) for n in args.lengths.split(",")]))
    console.print(phrasebook_table(writers))
    console.print(answers_table(writers, args.question))


if __name__ == "__main__":
    main()

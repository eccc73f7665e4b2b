"""Answer quality, as a client reads it: `python -m bench.answers` prints one table.

- containment: on the answerable questions of the SQuAD v2 sample, the share of replies holding the
  gold answer text (case and spacing ignored) — of the replies given, and end to end (a decline
  counts as a miss);
- decline: the answerability model's AUROC and balanced accuracy on the held-out half of the sample
  (paragraphs split by the CRC-32 of their text: even = calibration, odd = held out);
- citation mismatches: replies whose `[n]` and sources do not match one to one (`citations`);
- non-prose quoted: replies quoting a sentence that is not prose (a contents line, a blank to fill
  in, table cells) or that comes only from a non-prose passage, over SQuAD and the NIDDK booklet;
- voice separability: the creator's-voice check (helper of `coaching.personality`, when present);
- answer time p50/p99 with the offline (extractive) generator: all of it is Coachline's own time;
- retrieval recall@1/@5 of the product's search, so a change here cannot quietly cost recall.

`--calibrate` fits the answerability model on the calibration half and writes
`coaching/answerability.json` (the only way that file is made). Fixtures are read from
`$COACH_FIXTURES_DIR` or `../shared/fixtures`; without them the bench says so and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.knowledge import knowledge_base
from bench.stats import Row, percentile
from bench.voice import fixture_writers
from bot.foundation.clock import SystemClock
from bot.foundation.db import session_factory
from bot.identity import create_creator
from coaching import answerability
from coaching.answerability import AnswerabilityModel, Signals, signals
from coaching.citations import CITATION, citation_mismatches
from coaching.documents.passage_kinds import is_quotable, is_quotable_sentence
from coaching.embeddings import EmbeddingsUnavailable, LocalMiniLMEmbedder
from coaching.generation import ContextPassage
from coaching.knowledge import KnowledgeBase
from coaching.offline import DEFAULT_OFFLINE_MAX_CHARS, OfflineGenerator
from coaching.personality.separability import voice_separability
from coaching.responder import Answer, Responder
from coaching.selection import select_sentences
from config import load_settings
from tests.support.shared_fixtures import SHARED_FIXTURES

NIDDK = "niddk_eating_diabetes_508.pdf"
# Questions a new user asked of the booklet (issue 17), and a few more of the same kind.
NIDDK_QUESTIONS = (
    "How big should a serving of meat be?",
    "Can I still have dessert?",
    "What drinks should I choose instead of regular soda?",
    "What is the A1C test?",
    "What should my blood glucose be before meals?",
    "What should I do if my blood glucose is low?",
    "How many servings of vegetables should I eat?",
    "What should I eat when I'm sick?",
    "Can I drink alcohol?",
    "How do I fix my golf swing?",
)
SEARCH_K = 5
_BULLET = re.compile(r"^(?:•\s*)")


def fixtures_dir() -> Path | None:
    """Where the shared fixtures are, or None when this checkout has none."""
    configured = os.environ.get("COACH_FIXTURES_DIR")
    folder = Path(configured) if configured else SHARED_FIXTURES
    return folder if (folder / "qa" / "squad_v2_small.json").is_file() else None


@dataclass(frozen=True, slots=True)
class Question:
    """One SQuAD question: its paragraph, whether it can be answered, and the gold answers."""

    text: str
    paragraph: int
    impossible: bool
    answers: tuple[str, ...]
    held_out: bool


def load_squad(path: Path) -> tuple[list[str], list[Question]]:
    """Paragraphs and questions; a paragraph's questions are held out when the CRC-32 of its text is odd."""
    data = json.loads(path.read_text())
    paragraphs: list[str] = []
    questions: list[Question] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            paragraphs.append(paragraph["context"])
            held_out = zlib.crc32(paragraph["context"].encode()) % 2 == 1
            for qa in paragraph["qas"]:
                answers = tuple(answer["text"] for answer in qa.get("answers", []))
                questions.append(
                    Question(
                        qa["question"], len(paragraphs) - 1, bool(qa["is_impossible"]), answers, held_out
                    )
                )
    return paragraphs, questions


@dataclass
class Measured:
    """Everything measured on one set of questions."""

    replies: list[Answer] = field(default_factory=list)
    signals: list[Signals] = field(default_factory=list)
    contexts: list[list[ContextPassage]] = field(default_factory=list)
    rankings: list[list[str]] = field(default_factory=list)  # document ids, best first


async def ask_all(knowledge: KnowledgeBase, creator: str, questions: Sequence[str]) -> Measured:
    """Each question through the responder (offline generator), then its signals and search ranking."""
    responder = Responder(OfflineGenerator(), knowledge)
    measured = Measured()
    for question in questions:
        # The reply first, so its time includes embedding the question (later calls reuse the vector).
        answer = await responder.answer(creator_id=creator, creator_name="Bench", question=question)
        context = await knowledge.retrieve(creator, question, SEARCH_K)
        quotable = [passage for passage in context if is_quotable(passage.kind)]
        selection = select_sentences(question, quotable, DEFAULT_OFFLINE_MAX_CHARS)
        measured.replies.append(answer)
        measured.contexts.append(context)
        measured.signals.append(signals(question, quotable, selection))
        hits = await knowledge.search(creator, question, 10)
        measured.rankings.append(list(dict.fromkeys(hit.document_id for hit in hits)))
    return measured


def contains(reply: str, answers: Sequence[str]) -> bool:
    """Whether the reply holds one of the gold answers (case and spacing ignored)."""
    flat = " ".join(reply.lower().split())
    return any(" ".join(answer.lower().split()) in flat for answer in answers)


def quoted_sentences(reply: str) -> list[str]:
    """The sentences a reply quotes, with citation markers and bullets taken off."""
    text = CITATION.sub("", reply)
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [_BULLET.sub("", " ".join(part.split())).strip() for part in parts if part.strip()]


def non_prose_quotes(answer: Answer, context: Sequence[ContextPassage]) -> list[str]:
    """The quoted sentences that are not prose, or that only a non-prose passage holds."""
    if answer.declined:
        return []
    found = []
    for sentence in quoted_sentences(answer.text):
        probe = sentence.rstrip(".!?")[:60]
        holders = [passage for passage in context if probe and probe in " ".join(passage.text.split())]
        if not is_quotable_sentence(sentence) or (holders and not any(is_quotable(p.kind) for p in holders)):
            found.append(sentence)
    return found


CALIBRATION_FOLDS = 5
ANSWERED_TARGETS = (0.97, 0.95, 0.93, 0.9, 0.85)


def cross_validated(
    rows: Sequence[Signals], labels: Sequence[int], groups: Sequence[int], embedder: str
) -> list[Row]:
    """Balanced accuracy at each answered-share target, cross-validated on the calibration half alone
    (folds by paragraph, so a paragraph's questions never help judge each other): how the target in
    `answerability.ANSWERED_TARGET` is chosen without looking at the held-out half."""
    fold_of = {group: number % CALIBRATION_FOLDS for number, group in enumerate(sorted(set(groups)))}
    scores = [0.0] * len(rows)
    for fold in range(CALIBRATION_FOLDS):
        train = [i for i, group in enumerate(groups) if fold_of[group] != fold]
        model = answerability.fit([rows[i] for i in train], [labels[i] for i in train], embedder=embedder)
        for i, group in enumerate(groups):
            if fold_of[group] == fold:
                scores[i] = model.probability(rows[i])
    answerable = sorted(score for score, label in zip(scores, labels, strict=True) if label == 1)
    name = f"calibration half, {CALIBRATION_FOLDS}-fold"
    found = [Row(name, "AUROC", f"{answerability.auroc(scores, labels):.3f}", f"{len(rows)} questions")]
    for target in ANSWERED_TARGETS:
        threshold = answerable[int((1 - target) * len(answerable))]
        found.append(
            Row(
                name,
                f"balanced accuracy answering {target:.0%}",
                f"{answerability.balanced_accuracy(scores, labels, threshold):.3f}",
                "the target in use" if target == answerability.ANSWERED_TARGET else "",
            )
        )
    return found


def calibrate(rows: Sequence[Signals], labels: Sequence[int], embedder: str) -> AnswerabilityModel:
    """Fit and store the answerability model."""
    model = answerability.fit(
        rows,
        labels,
        embedder=embedder,
        note=f"SQuAD v2 sample, calibration half ({len(rows)} questions), `python -m bench.answers --calibrate`",
    )
    model.save()
    return model


def voice_row(fixtures: Path) -> Row:
    """The creator's-voice separability on the fixture writers (`coaching.personality.separability`)."""
    writers = fixture_writers(fixtures)
    if len(writers) < 2:
        return Row("voice", "separability", "n/a", "fewer than two fixture writers")
    value = voice_separability(writers)
    return Row(
        "voice",
        "separability",
        f"{value:.3f}",
        f"{', '.join(writers)}: own held-out passages picked over another writer's profile",
    )


async def run(calibrate_now: bool, show_replies: bool = False) -> list[Row]:
    """Every measurement of the table."""
    fixtures = fixtures_dir()
    if fixtures is None:
        return [Row("answers", "skipped", "-", "no ../shared/fixtures (set COACH_FIXTURES_DIR)")]
    embedder = LocalMiniLMEmbedder(load_settings().resolved_models_dir)
    try:
        await embedder.embed(["warm up"])
    except EmbeddingsUnavailable as exc:
        return [Row("answers", "skipped", "-", str(exc))]
    paragraphs, questions = load_squad(fixtures / "qa" / "squad_v2_small.json")
    with tempfile.TemporaryDirectory() as directory:
        knowledge, creator, engine = await knowledge_base(Path(directory), embedder)
        paragraph_of: dict[str, int] = {}
        for number, text in enumerate(paragraphs):
            result = await knowledge.ingest(creator, f"paragraph-{number}.txt", text.encode())
            paragraph_of[result.document.id] = number
        labels = [0 if q.impossible else 1 for q in questions]
        folds: list[Row] = []
        if calibrate_now:
            knowledge.answer_model = None  # measure the signals without a model deciding
            first = await ask_all(knowledge, creator, [q.text for q in questions])
            calibration = [i for i, q in enumerate(questions) if not q.held_out]
            folds = cross_validated(
                [first.signals[i] for i in calibration],
                [labels[i] for i in calibration],
                [questions[i].paragraph for i in calibration],
                embedder.name,
            )
            knowledge.answer_model = calibrate(
                [first.signals[i] for i in calibration], [labels[i] for i in calibration], embedder.name
            )
        squad = await ask_all(knowledge, creator, [q.text for q in questions])
        niddk = None
        if (fixtures / "docs" / NIDDK).is_file():
            # A second creator, so the booklet and the SQuAD paragraphs never answer for each other.
            async with session_factory(engine).begin() as session:
                booklet = (await create_creator(session, "Booklet", SystemClock().now())).creator.id
            await knowledge.ingest(booklet, NIDDK, (fixtures / "docs" / NIDDK).read_bytes())
            niddk = await ask_all(knowledge, booklet, NIDDK_QUESTIONS)
            if show_replies:
                print_replies(niddk, NIDDK_QUESTIONS)
        model = knowledge.answer_model
        await engine.dispose()
    await embedder.aclose()
    rows = [*folds, *_table(questions, labels, squad, paragraph_of, model)]
    if niddk is not None:
        rows += _booklet_rows(niddk)
    rows.append(voice_row(fixtures))
    return rows


def _table(
    questions: Sequence[Question],
    labels: Sequence[int],
    squad: Measured,
    paragraph_of: dict[str, int],
    model: AnswerabilityModel | None,
) -> list[Row]:
    name = f"SQuAD v2 sample ({len(questions)} questions)"
    answerable = [i for i, q in enumerate(questions) if not q.impossible]
    answered = [i for i in answerable if not squad.replies[i].declined]
    hit = [i for i in answerable if contains(squad.replies[i].text, questions[i].answers)]
    rows = [
        Row(
            name,
            "containment, replies given",
            f"{sum(i in hit for i in answered) / max(1, len(answered)):.3f}",
            f"{len(answered)} of {len(answerable)} answerable questions answered",
        ),
        Row(
            name, "containment end to end", f"{len(hit) / len(answerable):.3f}", "a decline counts as a miss"
        ),
    ]
    held = [i for i, q in enumerate(questions) if q.held_out]
    if model is not None:
        scores = [model.probability(squad.signals[i]) for i in held]
        held_labels = [labels[i] for i in held]
        rows.append(
            Row(
                name,
                "decline AUROC / balanced accuracy (held out)",
                f"{answerability.auroc(scores, held_labels):.3f} / "
                f"{answerability.balanced_accuracy(scores, held_labels, model.threshold):.3f}",
                f"{len(held)} held-out questions, threshold {model.threshold:.3f}",
            )
        )
        declined = sum(1 for i in held if questions[i].impossible and squad.replies[i].declined)
        rows.append(
            Row(
                name,
                "unanswerable declined / answerable answered (held out)",
                f"{declined / max(1, sum(questions[i].impossible for i in held)):.3f} / "
                f"{sum(1 for i in held if not questions[i].impossible and not squad.replies[i].declined) / max(1, sum(not questions[i].impossible for i in held)):.3f}",
                "the replies themselves",
            )
        )
    else:
        rows.append(
            Row(name, "decline AUROC / balanced accuracy", "n/a", "no calibrated model: run --calibrate")
        )
    rows += _common_rows(name, squad)
    rankings = [([paragraph_of[d] for d in squad.rankings[i]], questions[i].paragraph) for i in answerable]
    at_1 = sum(ranked[:1] == [gold] for ranked, gold in rankings) / len(rankings)
    at_5 = sum(gold in ranked[:5] for ranked, gold in rankings) / len(rankings)
    rows.append(Row(name, "search recall@1 / @5", f"{at_1:.3f} / {at_5:.3f}", f"{len(rankings)} answerable"))
    return rows


def _common_rows(name: str, measured: Measured) -> list[Row]:
    mismatched = [a for a in measured.replies if citation_mismatches(a.text, a.sources)]
    non_prose = [
        quote
        for answer, context in zip(measured.replies, measured.contexts, strict=True)
        for quote in non_prose_quotes(answer, context)
    ]
    times = [a.timings["total"] for a in measured.replies]
    retrieval = [a.timings["retrieval"] for a in measured.replies]
    generation = [a.timings["generation"] for a in measured.replies]
    return [
        Row(name, "citation mismatches", str(len(mismatched)), f"of {len(measured.replies)} replies"),
        Row(name, "non-prose quoted", str(len(non_prose)), "; ".join(q[:40] for q in non_prose[:2])),
        Row(
            name,
            "answer time p50 / p99",
            f"{percentile(times, 0.5):.1f} / {percentile(times, 0.99):.1f} ms",
            f"no model time in it; p99 of retrieval+judgement {percentile(retrieval, 0.99):.1f}, "
            f"of the offline generator {percentile(generation, 0.99):.1f} ms",
        ),
    ]


def _booklet_rows(measured: Measured) -> list[Row]:
    name = f"NIDDK booklet ({len(NIDDK_QUESTIONS)} questions)"
    declined = sum(a.declined for a in measured.replies)
    return [*_common_rows(name, measured), Row(name, "declined", str(declined), "golf swing should be")]


def print_replies(measured: Measured, questions: Sequence[str]) -> None:
    """The booklet's replies, as a client reads them."""
    for question, answer in zip(questions, measured.replies, strict=True):
        print(f"Q: {question}\nA: {answer.text}")
        print("   " + "; ".join(f"[{n}] {s.location}" for n, s in enumerate(answer.sources, 1)) + "\n")


def main() -> None:
    """Parse options, measure, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.answers", description=__doc__)
    parser.add_argument(
        "--calibrate", action="store_true", help="fit the answerability model and write it first"
    )
    parser.add_argument("--replies", action="store_true", help="print the booklet's replies too")
    options = parser.parse_args()
    rows = asyncio.run(run(options.calibrate, options.replies))
    table = Table(title="Coachline answer quality")
    for column in ("benchmark", "measure", "value", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.benchmark, row.measure, row.value, row.note)
    Console(width=140).print(table)


if __name__ == "__main__":
    main()

"""Answers worth reading: passage kinds, sentence choice, citations that match, honest declines, and
program steps that never paste a decline. All on material written here (no fixtures, no model)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.foundation.clock import SystemClock
from bot.foundation.db import create_engine, migrate, session_factory
from bot.foundation.messages import Source
from bot.identity import ensure_default_creator
from coaching.answer_types import asked_type, holds_type
from coaching.answerability import (
    AnswerabilityModel,
    Judgement,
    ReplyLimits,
    Signals,
    auroc,
    fit,
    signals,
)
from coaching.citations import Renumbering, citation_mismatches, renumber
from coaching.documents.passage_kinds import classify_passage, is_quotable_sentence
from coaching.documents.sentences import split_sentences
from coaching.embeddings import HashingEmbedder
from coaching.fake_generator import ScriptedGenerator
from coaching.generation import ContextPassage, PassageSentence
from coaching.knowledge import KnowledgeBase
from coaching.offline import OfflineGenerator, extractive_answer
from coaching.responder import Responder
from coaching.selection import select_sentences
from coaching.terms import content_words
from coaching.vector_store import InMemoryVectorStore
from programs.engine import StepSpec
from programs.executor import DebugTrace, MessageStepHandler, StepContext
from programs.spec import validate_step

# ----------------------------------------------------------------------------------------- Passage kinds


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Eating and Diabetes … 1 Blood Glucose Levels … 2 Your Medicines … 5 Starches … 13", "toc"),
        ("Introduction 1\nGetting started 4\nSleep and rest 12\nGoals 20", "toc"),
        ("Name of medicine: ___ Time: ___\nMeal: ___ How much: ___\nBreakfast ___ Lunch ___", "form"),
        ("apples, 12, 40\nbreakfast, 3\ncarbohydrate, 7-9, 22\ndinner, 15", "index"),
        ("See www.diabetes.org/education\nEmail: help@example.org\nhttps://example.org/x", "links"),
        ("Food | Serving | Calories\nApple | 1 small | 80\nRice | 1/3 cup | 70", "table"),
        ("Page 12", "furniture"),
        ("• Drink water with meals.\n• Walk after dinner.\n• Sleep eight hours.", "list"),
        ("Sleep is when the body repairs itself. Adults need seven to nine hours a night.", "prose"),
    ],
)
def test_each_kind_of_passage_is_recognised(text: str, kind: str) -> None:
    assert classify_passage(text) == kind


def test_worksheet_blanks_table_cells_and_dangling_ends_are_not_quotable_sentences() -> None:
    assert is_quotable_sentence("Ask your doctor for an A1C test at least twice a year.")
    assert not is_quotable_sentence("I will eat ___ starch servings each day.")
    assert not is_quotable_sentence("Examples of 1 serving: OR 1 small 1/2 cup juice 1/2 grapefruit apple")
    assert not is_quotable_sentence("cheese (1 slice) 1 tablespoon 1 serving of")
    assert not is_quotable_sentence("Starches … 13 Vegetables … 17")


# The NIDDK booklet's page 8 as its PDF text layer gives it: a table, a form and prose run together.
RUN_ON_FORM = (
    "What should my blood glucose levels be? Target Blood Glucose Levels for People with Diabetes "
    "Before meals 70 to 130 1 to 2 hours after the start of a meal less than 180 Talk with your health "
    "care provider about your blood glucose target levels and write them here: My Target Blood Glucose "
    "Levels Before meals ___ to ___ 1 to 2 hours after the start of a meal less than ___ Ask your doctor "
    "how often you should check your blood glucose on your own.\n"
    "Also ask your doctor for an A1C test at least twice a year."
)


def test_a_run_on_of_table_form_and_prose_keeps_its_prose_and_value_rows_and_drops_its_blanks() -> None:
    assert split_sentences(RUN_ON_FORM) == [
        "What should my blood glucose levels be?",
        "Target Blood Glucose Levels for People with Diabetes Before meals 70 to 130",
        "1 to 2 hours after the start of a meal less than 180",
        "Ask your doctor how often you should check your blood glucose on your own.",
        "Also ask your doctor for an A1C test at least twice a year.",
    ]
    # A quotable sentence is never cut, even where a run-on would be ("... here: Write ...").
    assert split_sentences("Write your goal here: Walk 20 minutes a day.") == [
        "Write your goal here: Walk 20 minutes a day."
    ]


def test_the_answer_in_a_form_chunk_is_quoted_without_its_blanks() -> None:
    form = _passage(RUN_ON_FORM, kind=classify_passage(RUN_ON_FORM))

    reply = extractive_answer("What should my blood glucose be before meals?", (form,), 700)

    assert form.kind == "form"
    assert reply is not None and "Before meals 70 to 130" in reply
    assert "___" not in reply and "write them here" not in reply


def test_a_pointer_to_another_page_is_never_quoted() -> None:
    pointer = "Go back to page 9, 10, or 11 to check how many servings of vegetables to have each day."
    assert not is_quotable_sentence(pointer)
    assert not is_quotable_sentence("See page 12 for more recipes.")
    assert is_quotable_sentence("Eat three to five servings of vegetables each day.")


def test_sentences_keep_abbreviations_lines_and_footnotes_apart() -> None:
    text = "Dr. Lee said 1/2 cup is enough. Then stop.\n• Drink water.\nor fish* *Three ounces is a deck of cards."
    assert split_sentences(text) == [
        "Dr. Lee said 1/2 cup is enough.",
        "Then stop.",
        "• Drink water.",
        "or fish*",
        "*Three ounces is a deck of cards.",
    ]


# ------------------------------------------------------------------------------------- Sentence choice


def _passage(
    text: str,
    document: str = "guide.pdf",
    location: str = "page 1",
    relevance: float = 0.5,
    kind: str = "prose",
    similarities: Sequence[float] | None = None,
) -> ContextPassage:
    from coaching.documents.sentences import sentence_spans

    spans = sentence_spans(text)
    sentences = (
        tuple(PassageSentence(s, e, sim) for (s, e), sim in zip(spans, similarities, strict=True))
        if similarities is not None
        else ()
    )
    return ContextPassage(text, Source(document, location, relevance), kind=kind, sentences=sentences)


def test_a_table_of_contents_is_never_quoted_even_when_its_words_match() -> None:
    toc = _passage("Desserts … 3 Sweets and dessert … 9 Dessert recipes … 12", kind="toc", relevance=0.9)
    sweets = _passage("You can still have dessert now and then. Share it, or choose fruit instead.", "b.pdf")

    reply = extractive_answer("Can I still have dessert?", (toc, sweets), 700)

    assert reply is not None and "…" not in reply
    assert "You can still have dessert now and then" in reply and "[2]" in reply


def test_the_sentence_closest_in_meaning_anchors_and_its_neighbours_join_in_order() -> None:
    passage = _passage(
        "Soda is full of sugar. Choose water, unsweetened tea or diet soda instead. "
        "Carry a water bottle so it is easy. The weather was cold that year.",
        similarities=[0.5, 0.8, 0.55, 0.05],
    )

    selection = select_sentences("What should I drink instead of soda?", (passage,), 700)

    texts = [c.text for c in selection.chosen]
    assert texts[:2] == ["Soda is full of sugar.", "Choose water, unsweetened tea or diet soda instead."]
    assert "The weather was cold that year." not in texts


def test_what_the_question_wants_replaced_is_not_the_answer() -> None:
    treat_low = _passage(
        "If your blood glucose is low, have one of these:\n• 1/2 cup of a regular (not diet) soft drink",
        "low.pdf",
        relevance=0.4,
        similarities=[0.3, 0.48],
    )
    sweets = _passage(
        "Try having sugar-free popsicles, diet soda, or sugar-free hot cocoa mix.",
        "sweets.pdf",
        relevance=0.35,
        similarities=[0.53],
    )

    reply = extractive_answer(
        "What drinks should I choose instead of regular soda?", (treat_low, sweets), 700
    )

    assert reply is not None and reply.startswith("Try having sugar-free popsicles, diet soda")
    assert "regular (not diet)" not in reply


def test_a_list_is_quoted_with_its_introduction_and_never_ends_on_it() -> None:
    passage = _passage(
        "Healthy ways to eat vegetables are simple:\n• Steam vegetables using water or broth.\n"
        "• Try lemon juice on raw vegetables.\nThe farm opened in 1990.",
    )

    reply = extractive_answer("What are healthy ways to eat vegetables?", (passage,), 700)

    assert reply is not None
    assert reply.startswith("Healthy ways to eat vegetables are simple:\n• Steam vegetables")
    assert not reply.rstrip(" [1].").endswith(":")
    assert "1990" not in reply


def test_a_question_in_the_material_hands_its_match_to_the_answer_after_it() -> None:
    passage = _passage("How much is a serving of meat? A serving of meat is three ounces, a deck of cards.")

    reply = extractive_answer("How big is a serving of meat?", (passage,), 700)

    assert reply == "A serving of meat is three ounces, a deck of cards [1]."


def test_the_reply_fits_the_length_target_in_whole_sentences() -> None:
    passage = _passage(
        " ".join(f"Sleep habit {n} keeps the evening routine calm and steady." for n in range(10))
    )
    for limit in (60, 130, 300):
        reply = extractive_answer("What sleep habit keeps the routine calm?", (passage,), limit)
        assert reply is not None and len(reply) <= limit


def test_a_sentence_that_goes_on_from_the_anchor_joins_it() -> None:
    passage = _passage(
        "Richard sailed for Acre in April with a large fleet. But a storm dispersed the fleet. "
        "The island had been ruled by the Byzantines for centuries.",
        similarities=[0.7, 0.2, 0.2],
    )

    selection = select_sentences("What stopped Richard's fleet from reaching Acre?", (passage,), 700)

    assert [c.text for c in selection.chosen] == [
        "Richard sailed for Acre in April with a large fleet.",
        "But a storm dispersed the fleet.",
    ]


def test_a_second_passage_keeps_its_room_and_a_shared_sentence_is_quoted_once() -> None:
    first = _passage(
        "Complexity classes group problems by the resources they need. Time is one resource. "
        "Memory is another resource. Both are measured against the input size.",
        similarities=[0.8, 0.5, 0.5, 0.5],
    )
    overlap = _passage(
        "Complexity classes group problems by the resources they need.", "b.pdf", similarities=[0.8]
    )
    second = _passage(
        "Important complexity classes include BPP, ZPP and RP, defined by probabilistic machines.",
        "c.pdf",
        similarities=[0.75],
    )

    reply = extractive_answer("What are examples of complexity classes?", (first, overlap, second), 200)

    assert reply is not None and len(reply) <= 200
    assert reply.count("Complexity classes group problems") == 1
    assert "BPP, ZPP and RP" in reply and reply.endswith("[3].")


@pytest.mark.parametrize(
    ("question", "sentence", "holds"),
    [
        ("How many servings of fruit a day?", "Eat three servings a day.", True),
        ("How many servings of fruit a day?", "Eat fruit every day.", False),
        ("When did the Normans invade?", "They landed in 1169.", True),
        ("When did the Normans invade?", "They landed at Bannow Bay.", False),
        ("Who ruled Cyprus?", "Cyprus was ruled by Isaac Komnenos.", True),
        ("Who ruled Cyprus?", "Richard took Cyprus from its ruler.", False),
        ("Why do I feel tired?", "Sleep is repair.", False),
    ],
)
def test_the_kind_of_answer_a_question_asks_for_is_recognised(
    question: str, sentence: str, holds: bool
) -> None:
    assert holds_type(sentence, asked_type(question), content_words(question)) is holds


# ------------------------------------------------------------------------------------------ Citations

A = Source("Guide", "page 1", 0.9)
B = Source("Guide", "page 7", 0.6)


@pytest.mark.parametrize(
    ("reply", "context", "expected", "cited"),
    [
        # [2] (page 7) is cited first; [3] and [1] are the same source (page 1); [9] names nothing.
        (
            "First [2]. Then [3] and [1]. Nonsense [9].",
            (A, B, A),
            "First [1]. Then [2] and [2]. Nonsense.",
            (B, A),
        ),
        # Two chunks of one section (one source) quoted one after the other: one marker, after both.
        (
            "Eat less fat [1]. When you want a snack, choose fruit [2]. Walk [3].",
            (A, A, B),
            "Eat less fat. When you want a snack, choose fruit [1]. Walk [2].",
            (A, B),
        ),
    ],
)
def test_citations_are_renumbered_in_the_order_the_reply_cites_them(
    reply: str, context: tuple[Source, ...], expected: str, cited: tuple[Source, ...]
) -> None:
    text, sources = renumber(reply, tuple(ContextPassage(str(n), s) for n, s in enumerate(context)))

    assert text == expected
    assert sources == cited
    assert citation_mismatches(text, sources) == []


def test_renumbering_a_stream_handles_markers_cut_between_pieces() -> None:
    renumbering = Renumbering((ContextPassage("a", A), ContextPassage("b", B)))
    pieces = ["Walk daily [", "2", "]. Sleep well [1", "]."]

    text = "".join(renumbering.feed(piece) for piece in pieces) + renumbering.finish()

    assert text == "Walk daily [1]. Sleep well [2]."
    assert renumbering.sources == (B, A)


def test_the_checker_names_every_mismatch() -> None:
    assert citation_mismatches("Walk [3].", (A, B)) == [
        "[3] names no listed source",
        "source [1] is listed but never cited",
        "source [2] is listed but never cited",
    ]
    assert citation_mismatches("Walk [1] and [2].", (A, A)) == ["sources [1] and [2] are the same"]


# ------------------------------------------------------------------------------------------ Declining


def _signals(strength: float) -> Signals:
    flag = 1.0 if strength > 0.5 else 0.0
    return Signals(strength, strength, strength, strength, flag, flag, 1.0, strength, 1.0, flag, 1.0)


def test_the_fitted_model_ranks_stronger_evidence_higher_and_never_weighs_a_signal_against_it() -> None:
    rows = [_signals(v / 20) for v in range(20)]
    labels = [1 if v >= 8 else 0 for v in range(20)]
    labels[9], labels[5] = 0, 1  # not separable: the weights stay finite

    model = fit(rows, labels, embedder="test-embedder")

    scores = [model.probability(row) for row in rows]
    assert auroc(scores, labels) > 0.9
    assert all(weight >= 0 for weight in model.weights)
    assert model.probability(_signals(0.95)) > model.probability(_signals(0.1))


def test_a_model_is_only_used_with_the_embedder_it_was_calibrated_for(tmp_path: Path) -> None:
    model = fit([_signals(0.1), _signals(0.9), _signals(0.2), _signals(0.8)], [0, 1, 0, 1], embedder="minilm")
    path = tmp_path / "model.json"
    model.save(path)

    assert AnswerabilityModel.load("minilm", path) == model
    assert AnswerabilityModel.load("hashing", path) is None


class _Material:
    """A retriever with fixed passages and a fixed verdict."""

    def __init__(self, passages: Sequence[ContextPassage], answerable: bool | None) -> None:
        self.passages = list(passages)
        self.answerable = answerable

    async def retrieve(self, creator_id: str, question: str, k: int) -> list[ContextPassage]:
        return self.passages[:k]

    async def judge(
        self, creator_id: str, question: str, context: Sequence[ContextPassage], limits: ReplyLimits
    ) -> Judgement | None:
        if self.answerable is None:
            return None
        selection = select_sentences(question, context, limits.max_chars, max_sentences=limits.max_sentences)
        return Judgement(0.9 if self.answerable else 0.1, self.answerable, selection)


async def test_the_sentences_chosen_when_judging_are_quoted_without_choosing_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def chosen_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sentences were chosen a second time")

    monkeypatch.setattr("coaching.offline.select_sentences", chosen_again)
    passage = ContextPassage("Walk for ten minutes after each meal. Then rest.", A)
    responder = Responder(OfflineGenerator(), _Material([passage], answerable=True))

    answer = await responder.answer(
        creator_id="c", creator_name="Dana", question="When should I walk after a meal?"
    )

    assert answer.text.startswith("Walk for ten minutes after each meal") and answer.sources == (A,)


@pytest.mark.parametrize(
    ("question", "quoted", "negation"),
    [
        ("What did the Normans never conquer?", "The Normans conquered England in 1066.", 0.0),
        ("What did the Normans never conquer?", "They never conquered Scotland.", 1.0),
        ("What shouldn't I eat before bed?", "Avoid heavy meals late at night.", 1.0),
        ("What should I eat before bed?", "A small snack with no added sugar is fine.", 1.0),
    ],
)
def test_a_negated_question_needs_a_negated_or_cautionary_answer(
    question: str, quoted: str, negation: float
) -> None:
    passage = _passage(quoted, similarities=[0.7])

    found = signals(question, (passage,), select_sentences(question, (passage,), 700))

    assert found.negation == negation


def test_the_answer_type_and_the_names_asked_about_are_read_from_the_material() -> None:
    passage = _passage("Richard landed on Cyprus in May and took Limassol.", similarities=[0.7])

    def found(question: str) -> Signals:
        return signals(question, (passage,), select_sentences(question, (passage,), 700))

    assert found("When did Richard land on Cyprus?").answer_type == 1.0
    assert found("How many ships did Richard bring to Cyprus?").answer_type == 0.0
    assert found("What did Richard do on Cyprus?").answer_type == 0.5  # asks for no particular kind
    assert found("What did Richard do on Cyprus?").names == 1.0
    # One name of two missing is as telling as both: the material is about someone else.
    assert found("What did Saladin do on Cyprus?").names == 0.0


@pytest.mark.parametrize(
    ("question", "quoted", "numbers", "modifiers"),
    [
        # SQuAD v2's unanswerable questions change one thing of the sentence they were written from.
        ("What uses a flexible set of rules?", "A machine uses a fixed set of rules.", 1.0, 0.0),
        ("What is the softest problem in C?", "A problem is the hardest in C.", 1.0, 0.0),
        ("What is an unknown solution?", "A known solution is given.", 1.0, 0.0),
        ("What is the oldest work of Norman art?", "The most famous work is the Tapestry.", 1.0, 0.0),
        ("What is non-binary notation?", "The alphabet is taken to be the binary alphabet.", 1.0, 0.0),
        ("Are three finite graphs isomorphic?", "Whether two finite graphs are isomorphic.", 1.0, 0.0),
        ("What war was fought in 1250?", "The war was fought in 1066.", 0.0, 1.0),
        ("What war was fought in 1066?", "The war was fought in 1066.", 1.0, 1.0),
        ("What is the first step after a meal?", "The first step after a meal is a walk.", 1.0, 1.0),
        # Questions that change nothing keep every signal at 1.
        (
            "What should I do if my blood glucose is low?",
            "Carry glucose tablets to treat low blood glucose.",
            1.0,
            1.0,
        ),
        ("What are three examples of snacks?", "Fruit, nuts and yogurt are good snacks.", 1.0, 1.0),
    ],
)
def test_a_swapped_number_or_modifier_is_read_against_the_quoted_sentences(
    question: str, quoted: str, numbers: float, modifiers: float
) -> None:
    passage = _passage(quoted, similarities=[0.7])

    found = signals(question, (passage,), select_sentences(question, (passage,), 700))

    assert (found.numbers, found.modifiers) == (numbers, modifiers)
    assert found.affirmative == 1.0
    assert (
        signals(
            "What did they never build?", (passage,), select_sentences(question, (passage,), 700)
        ).affirmative
        == 0.0
    )


async def test_an_unanswerable_question_is_declined_without_asking_the_model() -> None:
    model = ScriptedGenerator(lambda request: "General knowledge says ... [1]")
    responder = Responder(model, _Material([ContextPassage("Walk daily.", A)], answerable=False))

    answer = await responder.answer(
        creator_id="c", creator_name="Dana", question="What is the capital of Peru?"
    )

    assert model.requests == []
    assert answer.declined and answer.sources == ()
    assert "Dana's materials don't cover that yet" in answer.text


async def test_small_talk_is_never_judged_or_declined() -> None:
    responder = Responder(OfflineGenerator(), _Material([], answerable=False))

    answer = await responder.answer(creator_id="c", creator_name="Dana", question="Hi!")

    assert not answer.declined and answer.text.startswith("Hi!")


async def test_the_models_citations_are_renumbered_and_only_prose_is_given_to_it() -> None:
    toc = ContextPassage("Walking … 3 Sleep … 9 Food … 12", Source("Guide", "page 2", 0.9), kind="toc")
    passages = [toc, ContextPassage("Walk daily.", A), ContextPassage("Sleep eight hours.", B)]
    model = ScriptedGenerator(lambda request: "Sleep eight hours [2] and walk daily [1].")
    responder = Responder(model, _Material(passages, answerable=True))

    answer = await responder.answer(creator_id="c", creator_name="Dana", question="How do I rest?")

    assert [p.kind for p in model.requests[0].context] == ["prose", "prose"]
    assert answer.text == "Sleep eight hours [1] and walk daily [2]."
    assert answer.sources == (B, A)
    assert citation_mismatches(answer.text, answer.sources) == []


# ----------------------------------------------------------------------------------------- Programs


def _step(action: dict[str, object]) -> StepSpec:
    kind, trigger, config = validate_step("MESSAGE", {}, action)
    return StepSpec("s1", "tip", kind, trigger, config)


def _step_context() -> StepContext:
    return StepContext(
        creator_id="c", creator_name="Dana", program_title="Sleep Better", enable_personality=False
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            {
                "message_template": "Today's tip: {enhanced_content}",
                "context_query": "golf swing",
                "fallback_text": "keep your evening routine.",
            },
            "Today's tip: keep your evening routine.",
        ),
        (
            {"message_template": "Good morning! {enhanced_content}", "context_query": "golf swing"},
            "Good morning!",
        ),
        (
            {"context_query": "golf swing", "use_knowledge_context": True},
            "Keep going with Sleep Better today, there.",
        ),
    ],
    ids=["fallback_text", "template without placeholder", "neutral line"],
)
async def test_a_step_on_an_uncovered_topic_sends_no_decline_and_the_trace_says_so(
    action: dict[str, object], expected: str
) -> None:
    material = _Material([ContextPassage("Sleep eight hours.", B)], answerable=False)
    handler = MessageStepHandler(material, Responder(OfflineGenerator(), material), None)  # type: ignore[arg-type]
    debug = DebugTrace()

    output = await handler.execute(_step(action), _step_context(), debug)

    assert output.text == expected
    assert "don't cover" not in (output.text or "") and output.sources == ()
    fallback = [m for m in debug.milestones if m["milestone"] == "knowledge_fallback"]
    assert fallback and fallback[0]["data"]["query"] == "golf swing"


async def test_a_step_that_cites_its_material_carries_the_sources() -> None:
    material = _Material(
        [ContextPassage("Adults need seven to nine hours of sleep a night.", B)], answerable=True
    )
    handler = MessageStepHandler(material, Responder(OfflineGenerator(), material), None)  # type: ignore[arg-type]

    output = await handler.execute(
        _step({"message_template": "Tip: {enhanced_content}", "context_query": "how many hours of sleep"}),
        _step_context(),
        DebugTrace(),
    )

    assert output.text is not None and "[1]" in output.text
    assert output.sources == (B,)
    assert citation_mismatches(output.text, output.sources) == []


# ---------------------------------------------------------------------------------------- Ingestion

BOOKLET = """# Contents

Sleep … 1 Food … 4 Moving … 9 Notes … 12

# Sleep

Adults need seven to nine hours of sleep a night. Keep the bedroom dark and cool.

# My sleep log

Bedtime: ___ Wake time: ___
Hours slept: ___ Naps: ___
"""


async def test_ingestion_stores_each_chunks_kind_and_its_sentence_vectors(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")
    await migrate(engine)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        creator = (await ensure_default_creator(session, "Dana", SystemClock().now())).id
    store = InMemoryVectorStore()
    knowledge = KnowledgeBase(
        sessions, store, HashingEmbedder(), SystemClock(), max_upload_bytes=10**6, min_relevance=0.0
    )
    try:
        result = await knowledge.ingest(creator, "booklet.md", BOOKLET.encode())
        kinds = {
            chunk.metadata["section"]: chunk.metadata["kind"] for chunk in store.collections[creator].values()
        }
        assert kinds == {"Contents": "toc", "Sleep": "prose", "My sleep log": "form"}

        hits = await knowledge.search(creator, "sleep", 5)
        assert {hit.kind for hit in hits} >= {"toc", "prose"}  # non-prose stays searchable

        passages = await knowledge.retrieve(creator, "How many hours of sleep do adults need?", 5)
        sleep = next(p for p in passages if p.kind == "prose")
        assert [sleep.text[s.start : s.end] for s in sleep.sentences] == [
            "Adults need seven to nine hours of sleep a night.",
            "Keep the bedroom dark and cool.",
        ]
        assert all(s.similarity is not None for s in sleep.sentences)
        assert sleep.sentences[0].similarity > sleep.sentences[1].similarity  # type: ignore[operator]

        await knowledge.delete(creator, result.document.id)
        assert await knowledge.sentences.fetch([f"{result.document.id}:0"]) == {}
    finally:
        await engine.dispose()

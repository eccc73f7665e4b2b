"""The creator's voice: stylometry that tells writers apart, phrases from their own documents, dressing
that never changes the quotes, and profiles stored before all this still loading.

Every test here uses writers the project writes itself (`tests/support/writers.py`); the fixture
writers (Allen, Smiles, the NIDDK booklet) are measured by `python -m bench.voice` and in
`test_personality.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from bot.foundation.messages import Source
from bot.runtime import Coachline
from coaching.generation import ContextPassage, GenerationRequest, ReplyStyle
from coaching.models import PersonalityProfileRecord
from coaching.offline import OfflineGenerator, content_words, in_voice
from coaching.personality.consistency import consistency
from coaching.personality.features import measure_style
from coaching.personality.offline_analyser import analyse_texts
from coaching.personality.phrasebook import extract_phrasebook
from coaching.personality.profile import PROFILE_FORMAT, PersonalityProfile
from coaching.personality.separability import separability_report, voice_separability
from coaching.personality.signature import passages_of
from coaching.personality.stylometry import measure
from coaching.personality.voice import persona_from_profile, reply_style, system_prompt
from tests.support.offline import offline_knowledge
from tests.support.writers import WRITERS, writer_text


@cache
def profile(writer: str) -> PersonalityProfile:
    """The offline profile of one generated writer."""
    return analyse_texts(writer, [writer_text(writer)])


# --------------------------------------------------------------------------------------------------
# Measuring style


def test_thou_thee_and_thy_address_the_reader() -> None:
    archaic = "Keep thy heart with care, for thou art what thou thinkest; I tell thee so."

    assert measure(archaic).values["pronoun:you"] == measure(archaic).values["pronoun:thou"] > 0.2
    assert measure_style(archaic).features["second_person_rate"] > 0.2
    assert measure("Keep your heart with care.").values["pronoun:thou"] == 0


def test_the_sentence_length_distribution_not_only_its_mean() -> None:
    even = measure("One two three four five six. " * 4)
    # The same mean (6 words), but short and long sentences mixed.
    mixed = measure("One two. One two three four five six seven eight nine ten. " * 2)

    assert even.values["sentence:mean"] == mixed.values["sentence:mean"] == 6
    assert even.values["sentence:p10"] == even.values["sentence:p90"] == 6
    assert mixed.values["sentence:p10"] < 3 < 9 < mixed.values["sentence:p90"]
    assert mixed.values["sentence:short_share"] == 0.5


def test_punctuation_and_function_words_are_measured_per_sentence_and_per_word() -> None:
    measured = measure("Upon the hill; upon the road: the end — and yet! Why? (Because.)")

    values = measured.values
    assert values["punct:semicolon"] > 0 and values["punct:colon"] > 0 and values["punct:dash"] > 0
    assert values["punct:exclamation"] > 0 and values["punct:question"] > 0
    assert values["punct:parenthesis"] > 0
    assert values["fw:upon"] == 2 / measured.words
    assert values["fw:the"] == 3 / measured.words


def test_four_writers_are_told_apart_on_held_out_passages() -> None:
    report = separability_report({writer: [writer_text(writer)] for writer in WRITERS}, passage_words=100)

    assert report.separability >= 0.9
    assert min(report.per_writer.values()) >= 0.9
    assert all(count >= 10 for count in report.passages.values())
    assert report.pairs == 3 * sum(report.passages.values())


def test_separability_is_chance_for_one_writer_split_in_two() -> None:
    # Two "writers" who are the same writer: the score cannot and must not tell them apart.
    text = writer_text("sage")
    half = len(text) // 2
    split = text.rfind("\n\n", 0, half)
    figure = voice_separability({"first": [text[:split]], "second": [text[split:]]}, passage_words=100)

    assert 0.2 < figure < 0.8


def test_own_passages_score_higher_under_their_own_profile() -> None:
    for writer in WRITERS:
        passage = passages_of(writer_text(writer, seed=99), 120)[0]  # text the profile never saw
        own = consistency(passage, profile(writer))
        others = [consistency(passage, profile(other)).score for other in WRITERS if other != writer]

        assert own.score > max(others), writer
        assert 0.3 < own.score <= 1 and own.reliability > 0.6
        assert {"delta", "group:fw", "group:sentence", "group:punct"} <= set(own.distances)
    assert consistency("", profile("sage")).score == 0


# --------------------------------------------------------------------------------------------------
# The phrasebook


def _sentences_of(text: str) -> set[str]:
    return {" ".join(part.split()) for part in re.split(r"(?<=[.!?])\s+", text)}


def test_every_phrase_is_a_sentence_or_opening_of_the_creators_own() -> None:
    for writer in WRITERS:
        text = writer_text(writer)
        book = profile(writer).phrasebook

        for phrase in (*book.openers, *book.closers, *book.reader_address, *book.encouragements):
            assert phrase in _sentences_of(text), (writer, phrase)
        for transition in book.transitions:
            assert text.count(f"{transition} ") >= 2


def test_the_phrasebook_follows_its_rules() -> None:
    sage, coach = profile("sage").phrasebook, profile("coach").phrasebook
    story, scholar = profile("storyteller").phrasebook, profile("scholar").phrasebook

    assert sage.transitions and set(sage.transitions) <= {"Again,", "Moreover,"}
    assert all(re.search(r"\b(thou|thee|thy|you|your)\b", p, re.I) for p in sage.reader_address)
    assert sage.closers and coach.closers
    # Numbers, parentheses, names and other people's words are never used to dress an answer.
    for phrase in (*coach.phrases(), *story.phrases(), *scholar.phrases()):
        assert not re.search(r"\d|\(|“|Tomas", phrase), phrase
    assert not scholar.phrases()  # an academic third-person text never speaks to the reader
    for writer in WRITERS:
        words = " ".join(re.findall(r"[a-z0-9']+", writer_text(writer).lower()))
        assert all(f" {phrase} " in f" {words} " for phrase in profile(writer).phrasebook.phrasings)


def test_a_sentence_that_leans_on_the_one_before_is_not_used() -> None:
    text = (
        "You can change your habits. But this, you will find, is not easy. "
        "And you must keep going. You will grow stronger every week.\n\n" * 3
    )
    book = extract_phrasebook([text])

    assert "You will grow stronger every week." in book.phrases()
    assert not [phrase for phrase in book.phrases() if phrase.startswith(("But", "And"))]


# --------------------------------------------------------------------------------------------------
# Dressing an answer


STYLE = ReplyStyle(
    openers=("Thou art the maker of thy mind.",),
    closers=("Keep thy heart with care.",),
    transitions=("Again,",),
)


def test_the_dressing_never_changes_the_quotes() -> None:
    answer = "Keep thy purpose high [1]. The wise man returns unto his soul [2]."
    dressed = in_voice(answer, "How do I keep my mind and my heart?", STYLE, 500)

    assert dressed == (
        "Thou art the maker of thy mind. Keep thy purpose high [1]. "
        "Again, the wise man returns unto his soul [2]. Keep thy heart with care."
    )
    # Taking the dressing away gives the answer back exactly.
    undressed = dressed.removeprefix(STYLE.openers[0] + " ").removesuffix(" " + STYLE.closers[0])
    assert undressed.replace("Again, the", "The") == answer


def test_no_transition_where_lowercasing_would_change_a_quote() -> None:
    for second in ("I walked on [2].", "Tomas said so [2]."):
        answer = f"Keep thy purpose high [1]. {second}"

        assert second in in_voice(answer, "how?", STYLE, 500)


def test_the_dressing_is_short_and_fits_the_limit() -> None:
    short = "Rest [1]."
    answer = "Keep thy purpose high, and thy labour shall be light upon the road [1]."

    assert in_voice(short, "q", STYLE, 500) == short  # dressing is never longer than the answer
    assert in_voice(answer, "q", STYLE, len(answer) + 5) == answer
    assert len(in_voice(answer, "q", STYLE, len(answer) + 35)) <= len(answer) + 35
    assert in_voice(answer, "q", ReplyStyle(), 500) == answer


def test_two_creators_answer_one_question_in_their_own_words() -> None:
    question = "How do I keep my heart strong, and what should I add to breakfast?"
    wanted = content_words(question)
    replies = {}
    for writer in ("sage", "coach"):
        # The three passages that share the most words with the question, as retrieval would find.
        passages = sorted(
            passages_of(writer_text(writer), 40), key=lambda p: -len(wanted & content_words(p))
        )[:3]
        context = tuple(
            ContextPassage(text, Source(writer, f"part {n}", 0.5)) for n, text in enumerate(passages, 1)
        )
        persona = persona_from_profile(profile(writer), writer)
        request = GenerationRequest(persona=persona, question=question, context=context, max_chars=900)
        replies[writer] = OfflineGenerator().reply(request)

    assert replies["sage"] != replies["coach"]
    for writer, other in (("sage", "coach"), ("coach", "sage")):
        own_style = reply_style(profile(writer))
        assert any(phrase in replies[writer] for phrase in (*own_style.openers, *own_style.closers))
        assert not any(phrase in replies[writer] for phrase in profile(other).phrasebook.phrases())
        assert (
            consistency(replies[writer], profile(writer)).score
            > consistency(replies[writer], profile(other)).score
        )


def test_the_model_prompt_describes_the_measured_voice() -> None:
    sage = system_prompt(profile("sage"), "Sage")

    assert "thou, thee, thy" in sage and "semicolons" in sage
    assert re.search(r"sentences of \d+ to \d+ \(the middle half\) words", sage)
    assert profile("sage").phrasebook.reader_address[0] in sage
    assert "thou" not in system_prompt(profile("coach"), "Coach")


# --------------------------------------------------------------------------------------------------
# Stored profiles


FORMAT_1_PROFILE: dict[str, Any] = {  # a profile as stored before signatures and phrasebooks
    "creator_id": "c1",
    "personality_summary": "Writes in long, measured sentences.",
    "dominant_traits": [{"dimension": "formality", "value": 0.7, "confidence": 0.8}],
    "key_methodologies": ["Mindset and thought work"],
    "confidence_score": 0.62,
    "traits": [{"dimension": "formality", "value": 0.7, "confidence": 0.8}],
    "style_features": {"avg_sentence_words": 27.5, "second_person_rate": 0.001},
    "evidence": {"words": 9000},
    "analyser": "offline",
    "notes": [],
    "version": 3,
    "documents_fingerprint": "abc",
    "created_at": "2026-11-01T10:00:00+00:00",
}


def test_a_format_1_profile_still_loads_scores_and_answers_plainly() -> None:
    old = PersonalityProfile.from_dict(json.loads(json.dumps(FORMAT_1_PROFILE)))

    assert old.profile_format == 1 and old.signature is None and not old.phrasebook.phrases()
    assert old.personality_summary == FORMAT_1_PROFILE["personality_summary"]
    assert 0 < consistency("Thought is the root of every deed we do.", old).score <= 1
    style = reply_style(old)
    assert style.openers == style.closers == ()  # no invented phrases while it waits to be re-analysed


def test_a_format_2_profile_survives_its_json_form() -> None:
    current = profile("sage")

    assert current.profile_format == PROFILE_FORMAT and current.signature is not None
    assert PersonalityProfile.from_dict(json.loads(json.dumps(current.to_dict()))) == current


async def test_a_stored_format_1_profile_is_analysed_again(
    make_service: Callable[..., Coachline], database_url: str
) -> None:
    service = make_service(database_url=database_url, **offline_knowledge())
    await service.start()
    try:
        creator = service.default_creator
        assert creator is not None
        await service.knowledge.ingest(creator.id, "sage.txt", writer_text("sage").encode())
        await service.personality.settle()
        fingerprint = await service.knowledge.fingerprint(creator.id)
        stored = {**FORMAT_1_PROFILE, "creator_id": creator.id, "documents_fingerprint": fingerprint}
        async with service.sessions.begin() as session:
            latest = await service.personality.current(creator.id)
            assert latest is not None
            session.add(
                PersonalityProfileRecord(
                    creator_id=creator.id,
                    version=latest.version + 1,
                    documents_fingerprint=fingerprint,
                    analyser="offline",
                    confidence_score=0.62,
                    profile={**stored, "version": latest.version + 1},
                    created_at=service.clock.now(),
                )
            )

        outcome = await service.personality.analyze(creator.id)
    finally:
        await service.stop()

    assert outcome.status == "completed"  # same documents, but an old format: analysed again
    assert outcome.profile is not None and outcome.profile.profile_format == PROFILE_FORMAT
    assert outcome.profile.signature is not None and outcome.profile.phrasebook.reader_address

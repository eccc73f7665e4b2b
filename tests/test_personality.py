"""Personality: profiles from real writers' documents, their voices in answers, and the model's JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo import handbook_text
from bot.runtime import Coachline
from coaching.documents import parse_document
from coaching.embeddings import HashingEmbedder
from coaching.generation import ReplyStyle
from coaching.offline import in_voice
from coaching.personality.consistency import consistency
from coaching.personality.dressing import GENERIC_WORDS
from coaching.personality.offline_analyser import analyse_texts
from coaching.personality.ollama_analyser import OllamaAnalyser
from coaching.personality.profile import PersonalityProfile
from coaching.personality.voice import reply_style
from coaching.terms import content_words
from coaching.vector_store import InMemoryVectorStore
from tests.conftest import ADMIN_KEY
from tests.fakes.ollama_server import run_fake_ollama
from tests.support.offline import offline_knowledge
from tests.support.shared_fixtures import shared_fixture


def document_bytes(name: str) -> bytes:
    """A real document from `../shared/fixtures/docs` (the test is skipped in a clone without it)."""
    return shared_fixture("docs", name).read_bytes()


ALLEN = "as_a_man_thinketh_james_allen.txt"
NIDDK = "niddk_eating_diabetes_508.pdf"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@cache
def document_text(name: str) -> str:
    """A fixture document's text, as the parser reads it."""
    parsed = parse_document(name, document_bytes(name), max_bytes=50_000_000)
    return "\n\n".join(section.text for section in parsed.sections)


@cache
def profile_of(name: str) -> PersonalityProfile:
    """The offline profile of one fixture document's author."""
    return analyse_texts(name, [document_text(name)])


# Two voices written for the project, so a clone without ../shared covers the same ground: the demo
# coach's handbook (short, direct, "you") and a formal, essayistic paragraph in the old self-help manner.
FORMAL_ESSAY = (
    "The cultivation of character has long been regarded as the principal object of moral education. "
    "It is accomplished not by sudden resolution, however earnest, but by the patient accumulation of "
    "disciplined conduct over many years. The individual who aspires to self-mastery must therefore "
    "consider with care the habits which govern his ordinary hours, for it is in the ordinary hours that "
    "character is formed. Industry, temperance and perseverance are not merely admirable qualities; they "
    "are the foundations upon which every durable achievement has been constructed. History furnishes "
    "abundant evidence that those who attained distinction did so chiefly through steady application, "
    "rather than through any exceptional endowment of talent. Adversity, moreover, has frequently proved a "
    "more instructive teacher than prosperity, since it obliges the mind to examine its principles and to "
    "strengthen its resolve. It may be concluded, accordingly, that the formation of good habits "
    "constitutes the most reliable path toward a life of usefulness and honour. "
) * 4


def test_two_written_voices_get_different_profiles_and_sound_like_themselves() -> None:
    coach, essay = analyse_texts("maya", [handbook_text()]), analyse_texts("essayist", [FORMAL_ESSAY])
    coach_sample = " ".join(handbook_text().split()[600:900])

    assert essay.trait("formality") > coach.trait("formality") + 0.15
    assert coach.trait("directness") > essay.trait("directness") + 0.15
    assert coach.style_features["second_person_rate"] > essay.style_features["second_person_rate"]
    assert essay.style_features["avg_sentence_words"] > coach.style_features["avg_sentence_words"]
    assert "Rest and sleep" in coach.key_methodologies
    assert consistency(coach_sample, coach).score > consistency(coach_sample, essay).score
    assert consistency(FORMAL_ESSAY, essay).score > consistency(FORMAL_ESSAY, coach).score


def test_two_writers_get_different_profiles() -> None:
    allen, niddk = profile_of(ALLEN), profile_of(NIDDK)

    assert allen.trait("formality") > niddk.trait("formality") + 0.15
    assert niddk.trait("directness") > allen.trait("directness") + 0.15
    assert niddk.style_features["second_person_rate"] > 3 * allen.style_features["second_person_rate"]
    assert allen.style_features["avg_sentence_words"] > niddk.style_features["avg_sentence_words"]
    assert "Mindset and thought work" in allen.key_methodologies
    assert "Meal planning and nutrition" in niddk.key_methodologies
    assert allen.personality_summary != niddk.personality_summary
    assert {trait.dimension for trait in allen.dominant_traits} != {
        trait.dimension for trait in niddk.dominant_traits
    }


def test_confidence_grows_with_the_evidence() -> None:
    words = document_text(ALLEN).split()
    excerpt = analyse_texts("c", [" ".join(words[:300])])
    whole = profile_of(ALLEN)

    assert 0 < excerpt.confidence_score < whole.confidence_score
    assert all(
        short.confidence < long.confidence for short, long in zip(excerpt.traits, whole.traits, strict=True)
    )
    assert analyse_texts("c", []).confidence_score == 0


def test_a_writer_sounds_most_like_their_own_profile() -> None:
    allen_text = " ".join(document_text(ALLEN).split()[3000:3400])
    niddk_text = " ".join(document_text(NIDDK).split()[1500:1900])

    assert consistency(allen_text, profile_of(ALLEN)).score > consistency(allen_text, profile_of(NIDDK)).score
    assert consistency(niddk_text, profile_of(NIDDK)).score > consistency(niddk_text, profile_of(ALLEN)).score
    assert consistency("", profile_of(ALLEN)).score == 0


def test_a_profile_survives_its_json_form() -> None:
    profile = profile_of(NIDDK)

    assert PersonalityProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


# --------------------------------------------------------------------------------------------------
# The service: two creators, their documents, their twins


@pytest.fixture
async def service(make_service: Callable[..., Coachline], database_url: str) -> AsyncIterator[Coachline]:
    """Offline answers from a hashing embedder (no model download)."""
    instance = make_service(database_url=database_url, **offline_knowledge())
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _creator_with(api: httpx.AsyncClient, name: str, document: str) -> str:
    creator = (await api.post("/api/v1/creators", json={"name": name})).json()["creator_id"]
    uploaded = await api.post(
        "/api/v1/creators/knowledge/upload",
        params={"creator_id": creator},
        files={"file": (document, document_bytes(document))},
        data={"title": document, "creator_id": creator},
    )
    assert uploaded.status_code == 201, uploaded.text
    return str(creator)


async def test_two_twins_answer_one_question_in_their_own_voices(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    allen = await _creator_with(api, "Allen", ALLEN)
    niddk = await _creator_with(api, "NIDDK", NIDDK)
    for creator in (allen, niddk):
        analysed = await api.post(
            "/api/v1/creators/knowledge/personality/analyze", json={"creator_id": creator}
        )
        assert analysed.status_code == 200, analysed.text
        assert analysed.json()["analysis_status"] in ("completed", "cached")

    question = "How can I keep my thoughts and my daily habits healthy?"
    answers: dict[str, dict[str, Any]] = {}
    for creator in (allen, niddk):
        reply = await api.post(
            "/api/v1/chat", json={"user_id": f"reader-{creator}", "text": question, "creator_id": creator}
        )
        assert reply.status_code == 200, reply.text
        answers[creator] = reply.json()

    assert answers[allen]["sources"] and answers[niddk]["sources"]
    assert {source["document"] for source in answers[allen]["sources"]} == {ALLEN}
    assert {source["document"] for source in answers[niddk]["sources"]} == {NIDDK}
    scores = {}
    for creator in (allen, niddk):
        for profile_owner in (allen, niddk):
            checked = await api.post(
                "/api/v1/creators/knowledge/personality/monitor-consistency",
                json={"creator_id": profile_owner, "response_text": answers[creator]["reply"]},
            )
            scores[creator, profile_owner] = checked.json()["overall_score"]
    assert scores[allen, allen] > scores[allen, niddk], (answers[allen]["reply"], scores)
    assert scores[niddk, niddk] > scores[niddk, allen], (answers[niddk]["reply"], scores)


async def test_profile_endpoints_and_the_enhanced_context(api: httpx.AsyncClient, service: Coachline) -> None:
    creator = await _creator_with(api, "NIDDK", NIDDK)

    first = (
        await api.post("/api/v1/creators/knowledge/personality/analyze", json={"creator_id": creator})
    ).json()
    again = (
        await api.post("/api/v1/creators/knowledge/personality/analyze", json={"creator_id": creator})
    ).json()
    forced = (
        await api.post(
            "/api/v1/creators/knowledge/personality/analyze",
            json={"creator_id": creator, "force_reanalysis": True, "analysis_depth": "quick"},
        )
    ).json()
    current = (await api.get("/api/v1/creators/knowledge/personality", params={"creator_id": creator})).json()
    enhanced = (
        await api.post(
            "/api/v1/creators/knowledge/knowledge-context/enhanced",
            data={"query": "How many servings of fruit?", "creator_id": creator},
        )
    ).json()["enhanced_context"]

    profile = first["personality_profile"]
    assert {"personality_summary", "dominant_traits", "key_methodologies", "confidence_score"} <= set(profile)
    assert set(profile["dominant_traits"][0]) == {"dimension", "value", "confidence"}
    assert 0 < profile["confidence_score"] < 1
    assert profile["style_features"]["second_person_rate"] > 0
    assert (
        again["analysis_status"] == "cached" and again["personality_profile"]["version"] == profile["version"]
    )
    assert forced["personality_profile"]["version"] == profile["version"] + 1
    assert forced["personality_profile"]["evidence"]["words"] <= profile["evidence"]["words"]
    assert current["personality_profile"]["version"] == forced["personality_profile"]["version"]
    assert enhanced["knowledge_chunks"]
    assert (
        enhanced["personality_info"]["personality_summary"]
        == current["personality_profile"]["personality_summary"]
    )
    prompt = enhanced["personality_prompt"]
    assert prompt["template_used"] and "NIDDK" in prompt["personalized_prompt"]
    assert prompt["confidence_score"] == current["personality_profile"]["confidence_score"]


async def test_a_new_document_refreshes_the_profile_by_itself(
    api: httpx.AsyncClient, service: Coachline
) -> None:
    creator = await _creator_with(api, "Mixed", NIDDK)
    await service.personality.settle()
    before = await service.personality.current(creator)
    assert before is not None  # the upload started an analysis without being asked

    await api.post(
        "/api/v1/creators/knowledge/upload",
        params={"creator_id": creator},
        files={"file": (ALLEN, document_bytes(ALLEN))},
        data={"creator_id": creator},
    )
    await service.personality.settle()
    after = await service.personality.current(creator)

    assert after is not None and after.version == before.version + 1
    assert after.evidence["documents"] == 2
    assert after.documents_fingerprint != before.documents_fingerprint


async def test_analysis_without_documents_says_what_to_do(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/creators/knowledge/personality/analyze", json={})
    missing = await api.get("/api/v1/creators/knowledge/personality")

    assert response.status_code == 409 and "upload" in response.json()["detail"]
    assert missing.status_code == 404


async def test_the_twin_in_code(api: httpx.AsyncClient, service: Coachline) -> None:
    creator = await _creator_with(api, "NIDDK", NIDDK)
    await service.personality.settle()

    twin = await service.twin(creator)
    result = await twin.generate_response("How many servings of vegetables should I eat?")

    assert result.knowledge_used and all(item["document"] == NIDDK for item in result.knowledge_used)
    assert result.sources
    assert result.personality_consistency is not None and 0 < result.personality_consistency <= 1
    assert result.timings["total"] >= result.timings["retrieval"]


# --------------------------------------------------------------------------------------------------
# With a model


def _profile_json(messages: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "personality_summary": "A plain-spoken nutrition educator who gives clear steps.",
            "dominant_traits": [
                {"dimension": "directness", "value": 0.7, "confidence": 0.9},
                {"dimension": "warmth", "value": 0.4, "confidence": 0.6},
            ],
            "key_methodologies": ["Plate method", "Meal planning"],
        }
    )


async def test_the_model_profile_is_schema_constrained_and_checked_against_the_text() -> None:
    async with run_fake_ollama(reply=_profile_json) as fake:
        analyser = OllamaAnalyser(fake.url, "llama3.1:8b", timeout=10)
        try:
            profile = await analyser.analyse("c", [document_text(NIDDK)])
        finally:
            await analyser.aclose()

    request = fake.chat_requests[-1]
    assert request["format"]["properties"]["dominant_traits"]["type"] == "array"
    assert request["stream"] is False
    assert profile.analyser == "ollama:llama3.1:8b"
    assert profile.personality_summary.startswith("A plain-spoken")
    assert profile.key_methodologies == ("Plate method", "Meal planning")
    measured = profile_of(NIDDK)
    directness = next(trait for trait in profile.traits if trait.dimension == "directness")
    assert directness.value == 0.7
    # Confidence is the measured evidence, discounted by how far the model's claim is from the text.
    expected = next(t for t in measured.traits if t.dimension == "directness").confidence * (
        1 - abs(0.7 - measured.trait("directness"))
    )
    assert directness.confidence == pytest.approx(expected, abs=0.002)
    assert profile.style_features == measured.style_features


@pytest.mark.parametrize(
    ("reply", "note"),
    [
        ("{not json at all", "malformed JSON"),
        (json.dumps({"personality_summary": "x", "dominant_traits": []}), "does not fit the profile schema"),
        (
            json.dumps(
                {
                    "personality_summary": "x",
                    "dominant_traits": [{"dimension": "charisma", "value": 2, "confidence": 1}],
                    "key_methodologies": [],
                }
            ),
            "does not fit the profile schema",
        ),
    ],
)
async def test_a_broken_model_answer_falls_back_to_the_offline_profile(reply: str, note: str) -> None:
    async with run_fake_ollama(reply=reply) as fake:
        analyser = OllamaAnalyser(fake.url, "llama3.1:8b", timeout=10)
        try:
            profile = await analyser.analyse("c", [document_text(NIDDK)])
        finally:
            await analyser.aclose()

    assert profile.analyser == "offline"
    assert note in profile.notes[0]
    assert profile.traits == profile_of(NIDDK).traits


async def test_the_model_gets_the_profile_the_chunks_and_the_memory(
    make_service: Callable[..., Coachline], tmp_path: Path
) -> None:
    def reply(messages: list[dict[str, Any]]) -> str:
        if "Answer only with JSON" in messages[0]["content"]:
            return _profile_json(messages)
        return "Fill half your plate with vegetables [1]."

    async with run_fake_ollama(reply=reply) as fake:
        service = make_service(
            llm="ollama",
            ollama_url=fake.url,
            generator=None,
            embedder=HashingEmbedder(),
            vector_store=InMemoryVectorStore(),
            min_relevance=0.05,
        )
        await service.start()
        try:
            creator = service.default_creator
            assert creator is not None
            await service.knowledge.ingest(creator.id, NIDDK, document_bytes(NIDDK))
            await service.personality.settle()
            twin = await service.twin()
            result = await twin.generate_response("How many vegetables should I eat at dinner?")
        finally:
            await service.stop()

    answer_request = fake.chat_requests[-1]
    system = answer_request["messages"][0]["content"]
    assert "plain-spoken nutrition educator" in system  # the model's own profile, now the twin's voice
    assert "[1]" in system and "vegetable" in system.lower()  # the numbered chunks
    assert answer_request["messages"][-1]["content"] == "How many vegetables should I eat at dinner?"
    assert result.response == "Fill half your plate with vegetables [1]."
    assert result.sources and result.sources[0]["document"] == "What I need to know about Eating and Diabetes"


def test_the_opener_and_closer_nearest_the_topic_are_chosen() -> None:
    style = ReplyStyle(
        openers=(
            "Rest is where your strength returns.",
            "Your food shapes your strength.",
            "Calm your mind.",
        ),
        closers=("Sleep early and rise gladly.", "Choose your breakfast with care.", "Keep your heart calm."),
    )
    answer = "Eat oats and fruit in the morning, and drink a glass of water before you leave the house [1]."
    for question in ("What food is best?", "Is food important?", "Which food is good?", "Any food tips?"):
        dressed = in_voice(answer, f"{question} What about breakfast?", style, 500)

        assert dressed == f"Your food shapes your strength. {answer} Choose your breakfast with care."
    # With nothing in common, no phrase about another topic frames the answer; a neutral one may.
    assert in_voice(answer, "How do I handle stress at work?", style, 500) == answer
    neutral = ReplyStyle(openers=(*style.openers, "You can do this."), closers=style.closers)
    plain = in_voice(answer, "How do I handle stress at work?", neutral, 500)
    assert plain == f"You can do this. {answer}"


def test_the_demo_twin_opens_only_on_the_questions_topic() -> None:
    style = reply_style(analyse_texts("maya", [handbook_text()]))
    answer = "Keep the same wake-up time every day, weekends included [1]."
    topics = {
        "How can I sleep better?": {"sleep", "rest", "bed", "night", "wake"},
        "What helps with stress?": {"stress", "calm", "breath", "worry", "relax"},
        "What should I eat for breakfast?": {"eat", "food", "diet", "breakfast", "meal", "plate"},
    }
    for question, words in topics.items():
        dressed = in_voice(answer, question, style, 900)
        for phrase in (*style.openers, *style.closers):
            if phrase in dressed:
                # Each phrase framing the answer is on the question's topic, or about no topic at all.
                on_topic = any(word in phrase.lower() for word in words)
                neutral = not content_words(phrase) - GENERIC_WORDS
                assert on_topic or neutral, (question, dressed)
    assert not in_voice(answer, "How can I sleep better?", style, 900).startswith("You don't need a diet.")
    assert not in_voice(answer, "What helps with stress?", style, 900).startswith("You eat what you see.")
    assert in_voice(answer, "What should I eat for breakfast?", style, 900) != answer  # food has its openers

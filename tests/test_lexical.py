"""The lexical half of search: the stored full-text index (SQLite FTS5 and PostgreSQL) and rank fusion."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.db import create_engine, session_factory
from bot.runtime import Coachline
from coaching.embeddings import HashingEmbedder
from coaching.lexical import ChunkTerms, reciprocal_rank_fusion, selective_words, terms
from coaching.offline import OfflineGenerator
from coaching.vector_store import InMemoryVectorStore


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def _index(
    sessions: async_sessionmaker[AsyncSession], creator: str, document: str, chunks: list[tuple[str, str]]
) -> ChunkTerms:
    lexicon = ChunkTerms(sessions)
    async with sessions.begin() as session:
        await lexicon.add(session, creator, document, chunks)
    return lexicon


def test_terms_drop_stop_words_and_case() -> None:
    assert terms("What is THE Glycemic index?") == ["glycemic", "index"]


async def test_the_chunk_with_the_rare_word_ranks_first(sessions: async_sessionmaker[AsyncSession]) -> None:
    lexicon = await _index(
        sessions,
        "coach",
        "d1",
        [
            ("d1:0", "sleep well and sleep long, sleep is good for you"),
            ("d1:1", "melatonin is a hormone that helps sleep"),
            ("d1:2", "running every morning"),
        ],
    )

    ranked = [chunk_id for chunk_id, _ in await lexicon.search("coach", "does melatonin help sleep", 3)]

    assert ranked[0] == "d1:1"
    assert "d1:2" not in ranked  # shares no word with the query


def test_candidates_come_from_the_rarest_words_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("coaching.lexical.MATCH_BUDGET", 100)
    found_in = {"melatonin": 3, "sleep": 90, "good": 60, "absent": 0}

    # The rarest first while the rows they match stay within the budget; unknown words match nothing.
    assert selective_words(["sleep", "good", "melatonin", "absent"], found_in) == ["melatonin", "good"]
    # However common, the rarest word always picks the candidates.
    assert selective_words(["good", "sleep"], {"good": 500, "sleep": 900}) == ["good"]
    assert selective_words(["absent"], found_in) == []


async def test_a_common_word_over_the_budget_scores_but_does_not_pick_candidates(
    sessions: async_sessionmaker[AsyncSession], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL ranks in one statement, without a candidate budget")
    monkeypatch.setattr("coaching.lexical.MATCH_BUDGET", 2)
    lexicon = await _index(
        sessions,
        "coach",
        "d1",
        [("d1:0", "sleep sleep sleep"), ("d1:1", "melatonin before sleep"), ("d1:2", "sleep and running")],
    )

    ranked = await lexicon.search("coach", "melatonin sleep", 3)

    assert [chunk_id for chunk_id, _ in ranked] == ["d1:1"]
    alone = await lexicon.search("coach", "melatonin", 3)
    assert ranked[0][1] > alone[0][1]  # "sleep" still counts in the score of the chunk found


async def test_no_matching_word_returns_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    lexicon = await _index(sessions, "coach", "d1", [("d1:0", "apples and pears")])

    assert await lexicon.search("coach", "quantum physics", 5) == []
    assert await lexicon.search("coach", "the of and", 5) == []  # only stop words: no query at all


async def test_a_creator_searches_only_their_own_rows(sessions: async_sessionmaker[AsyncSession]) -> None:
    lexicon = await _index(sessions, "alice", "a1", [("a1:0", "zinc supplements for athletes")])
    await _index(sessions, "bob", "b1", [("b1:0", "zinc in the diet of athletes")])

    assert [chunk_id for chunk_id, _ in await lexicon.search("alice", "zinc athletes", 5)] == ["a1:0"]
    assert [chunk_id for chunk_id, _ in await lexicon.search("bob", "zinc athletes", 5)] == ["b1:0"]


async def test_a_creator_crowded_out_of_the_best_rows_still_finds_their_own(
    sessions: async_sessionmaker[AsyncSession], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("coaching.lexical.CANDIDATES_AT_LEAST", 1)  # 5 rows ranked for k=1
    await _index(sessions, "other", "o1", [(f"o1:{n}", "melatonin melatonin melatonin") for n in range(8)])
    lexicon = await _index(
        sessions, "coach", "c1", [("c1:0", "a long story of nights, dreams, naps and one melatonin pill")]
    )

    # The whole index's five best rows are all the other creator's; the coach's one is found anyway.
    assert [chunk_id for chunk_id, _ in await lexicon.search("coach", "melatonin", 1)] == ["c1:0"]
    assert len(await lexicon.search("other", "melatonin", 1)) == 1


async def test_the_chunk_count_is_exact_and_the_average_length_read_from_a_bounded_sample(
    sessions: async_sessionmaker[AsyncSession], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL counts for its IDF in its own statement")
    words = {"d1:0": "sleep", "d1:1": "sleep well", "d1:2": "sleep well now", "d1:3": "one two three four"}
    lexicon = await _index(sessions, "coach", "d1", list(words.items()))
    await _index(sessions, "other", "o1", [("o1:0", "not the coach's at all, however long it is")])

    async with sessions() as session:
        assert await lexicon._statistics(session, "coach") == (4, 2.5)  # (1 + 2 + 3 + 4) / 4
    monkeypatch.setattr("coaching.lexical.LENGTH_SAMPLE", 2)
    async with sessions() as session:
        total, average = await ChunkTerms(sessions)._statistics(session, "coach")
    assert total == 4 and average in {(a + b) / 2 for a in (1, 2, 3, 4) for b in (1, 2, 3, 4) if a != b}


async def test_deleting_a_document_touches_only_its_rows(sessions: async_sessionmaker[AsyncSession]) -> None:
    lexicon = await _index(
        sessions, "coach", "d1", [("d1:0", "protein after training"), ("d1:1", "protein shakes")]
    )
    await _index(sessions, "coach", "d2", [("d2:0", "protein at breakfast")])

    async with sessions.begin() as session:
        await lexicon.delete_document(session, "d1")
        remaining = (
            (await session.execute(text("SELECT chunk_id FROM knowledge_chunk_terms"))).scalars().all()
        )

    assert [chunk_id for chunk_id, _ in await lexicon.search("coach", "protein", 5)] == ["d2:0"]
    assert remaining == ["d2:0"]


async def test_a_rolled_back_add_leaves_no_rows(sessions: async_sessionmaker[AsyncSession]) -> None:
    lexicon = ChunkTerms(sessions)
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await lexicon.add(session, "coach", "d1", [("d1:0", "magnesium before bed")])
            raise RuntimeError("the document never became ready")

    assert await lexicon.search("coach", "magnesium", 5) == []


def test_fusion_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion(["x", "y", "z"], ["y", "w"])

    assert fused[0] == "y"  # second and first beats first and absent
    assert set(fused) == {"x", "y", "z", "w"}


async def test_documents_from_before_the_index_get_their_rows_at_recovery(
    make_service: Callable[..., Coachline], database_url: str
) -> None:
    service = make_service(
        database_url=database_url,
        generator=OfflineGenerator(),
        embedder=HashingEmbedder(),
        vector_store=InMemoryVectorStore(),
    )
    await service.start()
    try:
        assert service.default_creator is not None
        creator = service.default_creator.id
        await service.knowledge.ingest(creator, "zinc.md", b"# Minerals\n\nZinc helps wounds heal.")
        async with service.sessions.begin() as session:  # as a database migrated from before the index
            await session.execute(text("DELETE FROM knowledge_chunk_terms"))
        before = await service.knowledge.lexicon.search(creator, "zinc", 5)

        await service.knowledge.recover()

        after = await service.knowledge.lexicon.search(creator, "zinc", 5)
    finally:
        await service.stop()
    assert before == []
    assert len(after) == 1 and after[0][0].endswith(":0")

"""One contract for every vector store: the in-memory fake, embedded Chroma and a Chroma server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from coaching.vector_store import ChromaVectorStore, InMemoryVectorStore, StoredChunk, VectorStore
from tests.support.chroma_server import chroma_executable, run_chroma_server


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `chroma run` for the module."""
    if chroma_executable() is None:
        pytest.skip("the chroma command is not installed")
    with run_chroma_server(tmp_path_factory.mktemp("chroma-server") / "db") as url:
        yield url


@pytest.fixture(params=["memory", "embedded", "server"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    """Each implementation in turn."""
    implementation: VectorStore
    if request.param == "memory":
        implementation = InMemoryVectorStore()
    elif request.param == "embedded":
        implementation = ChromaVectorStore.embedded(tmp_path / "chroma")
    else:
        implementation = ChromaVectorStore.server(request.getfixturevalue("chroma_server"))
    yield implementation
    await implementation.aclose()


def chunk(chunk_id: str, vector: list[float], document_id: str = "doc-1") -> StoredChunk:
    """A stored chunk with the metadata the knowledge base writes."""
    return StoredChunk(chunk_id, f"text of {chunk_id}", vector, {"document_id": document_id, "position": 0})


async def test_query_returns_nearest_first_with_cosine_similarity(
    store: VectorStore, request: pytest.FixtureRequest
) -> None:
    creator = f"c-{request.node.callspec.id}-{id(store)}"
    await store.add(creator, [chunk("a", [1, 0, 0]), chunk("b", [0, 1, 0]), chunk("c", [0.8, 0.6, 0])])

    hits = await store.query(creator, [1, 0, 0], 2)
    nearest = await store.nearest(creator, [1, 0, 0], 2)  # the same ranking, ids and similarities alone

    assert [hit.chunk_id for hit in hits] == ["a", "c"]
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert hits[1].similarity == pytest.approx(0.8, abs=1e-4)
    assert hits[0].text == "text of a" and hits[0].metadata["document_id"] == "doc-1"
    assert [chunk_id for chunk_id, _ in nearest] == ["a", "c"]
    assert [similarity for _, similarity in nearest] == pytest.approx([1.0, 0.8], abs=1e-4)


async def test_collections_are_per_creator(store: VectorStore, request: pytest.FixtureRequest) -> None:
    suffix = f"{request.node.callspec.id}-{id(store)}"
    await store.add(f"alice-{suffix}", [chunk("a", [1, 0, 0])])

    assert await store.query(f"bob-{suffix}", [1, 0, 0], 5) == []
    assert await store.count(f"bob-{suffix}") == 0
    assert await store.count(f"alice-{suffix}") == 1


async def test_delete_document_removes_only_its_chunks(
    store: VectorStore, request: pytest.FixtureRequest
) -> None:
    creator = f"c-{request.node.callspec.id}-{id(store)}"
    await store.add(creator, [chunk("a", [1, 0, 0], "doc-1"), chunk("b", [0, 1, 0], "doc-2")])

    await store.delete_document(creator, "doc-1")

    assert [hit.chunk_id for hit in await store.query(creator, [1, 0, 0], 5)] == ["b"]


async def test_store_reports_itself_real(store: VectorStore) -> None:
    assert (await store.check()).state == "real"


async def test_chunks_and_get_return_stored_text_and_similarity(
    store: VectorStore, request: pytest.FixtureRequest
) -> None:
    creator = f"c-{request.node.callspec.id}-{id(store)}"
    await store.add(creator, [chunk("a", [1, 0, 0]), chunk("b", [0, 1, 0])])

    everything = await store.chunks(creator)
    fetched = await store.get(creator, ["b"], [0, 1, 0])

    assert sorted(hit.chunk_id for hit in everything) == ["a", "b"]
    assert [(hit.chunk_id, hit.text) for hit in fetched] == [("b", "text of b")]
    assert fetched[0].similarity == pytest.approx(1.0, abs=1e-4)


async def test_a_query_asking_for_more_than_there_is_returns_what_there_is(store: VectorStore) -> None:
    assert await store.query("empty-creator", [1.0, 0.0, 0.0], 5) == []
    assert await store.nearest("empty-creator", [1.0, 0.0, 0.0], 5) == []
    await store.add("small", [StoredChunk("d:0", "only one", [1.0, 0.0, 0.0], {"document_id": "d"})])

    hits = await store.query("small", [1.0, 0.0, 0.0], 20)

    assert [hit.chunk_id for hit in hits] == ["d:0"]


async def test_get_gives_each_chunk_its_own_similarity(
    store: VectorStore, request: pytest.FixtureRequest
) -> None:
    creator = f"c-{request.node.callspec.id}-{id(store)}"
    await store.add(creator, [chunk("a", [1, 0, 0]), chunk("b", [0, 2, 0]), chunk("c", [0.8, 0.6, 0])])

    fetched = await store.get(creator, ["a", "b", "c"], [1, 0, 0])

    assert {hit.chunk_id: round(hit.similarity, 4) for hit in fetched} == {"a": 1.0, "b": 0.0, "c": 0.8}
    assert await store.get(creator, [], [1, 0, 0]) == []

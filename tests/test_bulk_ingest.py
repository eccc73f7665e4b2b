"""Bulk ingestion: many files in one pass (length-sorted embedding calls, one bulk write, one change
announced, so one personality re-analysis), through the API as a job with progress, and all-or-nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import httpx
import pytest

from bot.app import create_app
from bot.runtime import Coachline
from coaching.bulk_ingest import BatchFile, ingest_batch
from coaching.embeddings import HashingEmbedder
from coaching.offline import OfflineGenerator
from coaching.vector_store import InMemoryVectorStore
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TOPICS = ["sleep", "running", "protein", "hydration", "stretching", "breathing", "journaling", "posture"]


class RecordingEmbedder(HashingEmbedder):
    """The hashing embedder, remembering the texts of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.fail = False

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.fail:
            raise RuntimeError("the model crashed")
        self.calls.append(list(texts))
        return await super().embed(texts)


@pytest.fixture
def embedder() -> RecordingEmbedder:
    return RecordingEmbedder()


@pytest.fixture
async def service(
    make_service: Callable[..., Coachline], database_url: str, embedder: RecordingEmbedder
) -> AsyncIterator[Coachline]:
    instance = make_service(
        database_url=database_url,
        generator=OfflineGenerator(),
        embedder=embedder,
        vector_store=InMemoryVectorStore(),
        min_relevance=0.1,
    )
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def _files(count: int) -> list[BatchFile]:
    """Notes of very different lengths, each about one topic."""
    return [
        BatchFile(
            f"note-{number}.md",
            (
                f"# {TOPICS[number % len(TOPICS)].title()}\n\n"
                + f"Advice {number} about {TOPICS[number % len(TOPICS)]}. " * (1 + number * 7)
            ).encode(),
        )
        for number in range(count)
    ]


def _creator(service: Coachline) -> str:
    assert service.default_creator is not None
    return service.default_creator.id


# Enough files for more than one full embedding call of 32 chunks (the order across calls is the point).
BATCH = 24


async def test_a_batch_is_embedded_in_length_sorted_calls_and_announced_once(
    service: Coachline, embedder: RecordingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("coaching.bulk_ingest.EMBED_CALL", 32)  # several calls from this small batch
    changes: list[str] = []
    service.knowledge.on_change(changes.append)
    seen: list[tuple[str, int, int]] = []
    files = [*_files(BATCH), BatchFile("tool.exe", b"MZ\x90\x00"), BatchFile("copy.md", _files(1)[0].data)]

    results = await ingest_batch(
        service.knowledge,
        _creator(service),
        files,
        on_progress=lambda p: seen.append((p.stage, p.chunks_embedded, p.chunks_total)),
    )

    assert [result.outcome for result in results] == ["created"] * BATCH + ["rejected", "duplicate"]
    refused = results[BATCH].reason
    assert refused is not None and "not supported" in refused
    original, copy = results[0].document, results[BATCH + 1].document
    assert original is not None and copy is not None and copy.id == original.id
    assert changes == [_creator(service)]  # one re-analysis for the whole batch, not one per file
    total_chunks = sum(result.document.chunk_count for result in results[:BATCH] if result.document)
    # Chunks and sentences in one stream sorted by length (similar lengths share a call: little
    # padding), each distinct text once, in more than one call (so progress moves).
    embedded = [text for call in embedder.calls for text in call]
    assert [len(text) for text in embedded] == sorted(len(text) for text in embedded)
    assert len(embedded) == len(set(embedded)) and len(embedder.calls) > 1
    stored = await service.knowledge.store.chunks(_creator(service))
    assert len(stored) == total_chunks
    assert "Advice 3 about hydration." in embedded  # a sentence's own vector, from the same stream
    assert seen[-1] == ("done", total_chunks, total_chunks)
    assert any(stage == "embedding" and 0 < done < total_chunks for stage, done, _ in seen)
    hits = await service.knowledge.search(_creator(service), "advice about hydration", 5)
    assert hits and "hydration" in hits[0].text


async def test_a_failure_while_embedding_leaves_nothing_of_the_batch(
    service: Coachline, embedder: RecordingEmbedder
) -> None:
    embedder.fail = True

    with pytest.raises(RuntimeError):
        await ingest_batch(service.knowledge, _creator(service), _files(3))

    assert await service.knowledge.documents(_creator(service)) == []
    embedder.fail = False
    assert await service.knowledge.search(_creator(service), "advice about sleep", 5) == []


async def test_a_new_version_in_a_batch_replaces_the_old_file(service: Coachline) -> None:
    creator = _creator(service)
    [first] = await ingest_batch(
        service.knowledge, creator, [BatchFile("plan.md", b"# Plan\n\nRun on Mondays and rest.")]
    )
    [second] = await ingest_batch(
        service.knowledge, creator, [BatchFile("plan.md", b"# Plan\n\nSwim on Tuesdays and rest.")]
    )

    assert second.outcome == "replaced" and first.document is not None
    assert second.replaced_document_id == first.document.id
    assert [document.filename for document in await service.knowledge.documents(creator)] == ["plan.md"]


async def test_the_batch_endpoint_runs_a_job_whose_progress_can_be_followed(service: Coachline) -> None:
    app = create_app(service)
    files = _files(5)
    async with (
        serve_asgi(app, lifespan="off") as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        accepted = await client.post(
            "/api/v1/creators/knowledge/upload/batch",
            files=[("files", (file.filename, file.data, "text/markdown")) for file in files],
            headers=ADMIN,
        )
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()
        assert job["files_total"] == 5 and job["state"] == "running"
        running = app.state.knowledge_batch_jobs.get(job["job_id"])
        await running.task  # the job itself, not a clock: no sleeping
        finished = (await client.get(job["status_url"], headers=ADMIN)).json()
        unknown = await client.get("/api/v1/creators/knowledge/upload/batch/nope", headers=ADMIN)

    assert finished["state"] == "done" and finished["stage"] == "done"
    assert [result["outcome"] for result in finished["results"]] == ["created"] * 5
    assert finished["chunks_embedded"] == finished["chunks_total"] > 0
    assert unknown.status_code == 404
    assert len(await service.knowledge.documents(_creator(service))) == 5

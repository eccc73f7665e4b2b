"""The knowledge base end to end: upload, dedupe, versions, delete, isolation, search, and the twin
answering from the material with its sources — through the service and the REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from bot.app import create_app
from bot.foundation.messages import Attachment
from bot.runtime import Coachline
from channels.console import ConsoleChannel
from channels.web import WebChannel
from coaching.documents import DocumentRejected
from coaching.embeddings import HashingEmbedder
from coaching.models import KnowledgeDocument
from coaching.offline import OfflineGenerator
from coaching.vector_store import InMemoryVectorStore
from tests.conftest import ADMIN_KEY
from tests.support.asgi_server import serve_asgi
from tests.support.chat import ChatDriver
from tests.support.documents import long_text, text_pdf
from tests.support.waiting import HANG_SECONDS

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
GUIDE_PDF = text_pdf()  # three pages, written by tests/support/documents.py

SLEEP_GUIDE = (
    "# Sleep\n\nAdults need seven to nine hours of sleep every night. Keep a regular bedtime, even at weekends.\n\n"
    "# Running\n\nStart running with ten minutes a day and add five minutes each week.\n"
)


@pytest.fixture
def store() -> InMemoryVectorStore:
    """The vector store, inspectable by the test."""
    return InMemoryVectorStore()


@pytest.fixture
async def service(
    make_service: Callable[..., Coachline], database_url: str, store: InMemoryVectorStore
) -> AsyncIterator[Coachline]:
    """A service answering offline from a hashing embedder (no model download) on each database."""
    async with _running(make_service(database_url=database_url, **_offline_knowledge(store))) as instance:
        yield instance


def _offline_knowledge(store: InMemoryVectorStore) -> dict[str, Any]:
    """Offline answers from a hashing embedder: no model to download, relevance tuned to it."""
    return {
        "generator": OfflineGenerator(),
        "embedder": HashingEmbedder(),
        "vector_store": store,
        "min_relevance": 0.1,
    }


@asynccontextmanager
async def _running(instance: Coachline) -> AsyncIterator[Coachline]:
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def _default_creator(service: Coachline) -> str:
    assert service.default_creator is not None
    return service.default_creator.id


async def test_a_document_becomes_searchable_with_its_location(service: Coachline) -> None:
    creator = await _default_creator(service)

    result = await service.knowledge.ingest(creator, "eating_guide.pdf", GUIDE_PDF)

    assert result.outcome == "created" and result.document.status == "ready"
    assert result.document.chunk_count >= 1
    hits = await service.knowledge.search(creator, "how many hours of sleep do adults need", 3)
    assert hits and hits[0].document_id == result.document.id
    assert "seven to nine hours of sleep" in hits[0].text
    assert all(0.0 <= hit.relevance <= 1.0 for hit in hits)
    assert hits[0].location and "page" in hits[0].location and hits[0].source == "eating_guide.pdf"


async def test_the_same_content_again_is_recognised_not_reindexed(
    service: Coachline, store: InMemoryVectorStore
) -> None:
    creator = await _default_creator(service)
    first = await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode())
    chunks = await store.count(creator)

    again = await service.knowledge.ingest(creator, "renamed.md", SLEEP_GUIDE.encode())

    assert again.outcome == "duplicate" and again.document.id == first.document.id
    assert await store.count(creator) == chunks


async def test_a_changed_file_replaces_its_old_version(
    service: Coachline, store: InMemoryVectorStore
) -> None:
    creator = await _default_creator(service)
    old = await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode())

    new = await service.knowledge.ingest(
        creator, "guide.md", (SLEEP_GUIDE + "\n# Food\n\nEat vegetables.\n").encode()
    )

    assert new.outcome == "replaced" and new.replaced_document_id == old.document.id
    assert [document.id for document in await service.knowledge.documents(creator)] == [new.document.id]
    assert await store.count(creator) == new.document.chunk_count
    hits = await service.knowledge.search(creator, "sleep hours", 5)
    assert {hit.document_id for hit in hits} == {new.document.id}


async def test_delete_removes_the_document_and_its_chunks(
    service: Coachline, store: InMemoryVectorStore
) -> None:
    creator = await _default_creator(service)
    document = (await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode())).document

    assert await service.knowledge.delete(creator, document.id)

    assert await store.count(creator) == 0
    assert await service.knowledge.search(creator, "sleep", 5) == []
    assert not await service.knowledge.delete(creator, document.id)


async def test_a_steady_search_looks_up_no_document_and_a_deleted_one_is_forgotten(
    service: Coachline, store: InMemoryVectorStore
) -> None:
    creator = await _default_creator(service)
    # No personality analysis after the upload: its reads of the documents, in the background,
    # would land among the search's statements counted below.
    service.knowledge._listeners.clear()
    document = (await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode())).document
    await service.knowledge.search(creator, "sleep hours", 5)  # the document is seen ready once
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(service.engine.sync_engine, "before_cursor_execute", record)
    try:
        hits = await service.knowledge.search(creator, "when to go running", 5)
    finally:
        event.remove(service.engine.sync_engine, "before_cursor_execute", record)
    assert hits and hits[0].title == document.title
    assert not [statement for statement in statements if "FROM documents" in statement]

    stray = list(store.collections[creator].values())
    assert await service.knowledge.delete(creator, document.id)
    await store.add(creator, stray)
    # A chunk left behind (another instance deleting, mid-way) is not served from memory.
    assert await service.knowledge.search(creator, "sleep hours", 5) == []


async def test_a_failure_while_indexing_leaves_nothing_behind(
    service: Coachline, store: InMemoryVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    creator = await _default_creator(service)
    calls = 0
    real_embed = service.knowledge.embedder.embed

    async def failing_embed(texts: list[str]) -> list[list[float]]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("embedding server went away")
        return await real_embed(texts)

    monkeypatch.setattr(service.knowledge.embedder, "embed", failing_embed)
    with pytest.raises(RuntimeError):
        await service.knowledge.ingest(creator, "long.txt", long_text(64_000))

    assert await store.count(creator) == 0
    async with service.sessions() as session:
        assert list(await session.scalars(select(KnowledgeDocument))) == []


async def test_rejected_input_says_why_and_stores_nothing(
    service: Coachline, store: InMemoryVectorStore
) -> None:
    creator = await _default_creator(service)

    with pytest.raises(DocumentRejected) as rejected:
        await service.knowledge.ingest(creator, "virus.exe", b"MZ\x90\x00")

    assert "not supported" in rejected.value.reason
    assert await store.count(creator) == 0


async def test_one_creators_users_never_see_another_creators_material(service: Coachline) -> None:
    creator = await _default_creator(service)
    await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode())
    async with service.sessions.begin() as session:
        from bot.identity import create_creator

        other = (await create_creator(session, "Other Coach", service.now())).creator.id

    assert await service.knowledge.search(other, "how many hours of sleep", 5) == []
    reply = await ChatDriver(service, user_id="bob", creator_id=other).ask(
        "How many hours of sleep do adults need?"
    )
    assert "seven to nine" not in reply


async def test_the_twin_answers_from_the_material_and_cites_it(service: Coachline) -> None:
    creator = await _default_creator(service)
    await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode(), title="Sleep and running guide")
    chat = ChatDriver(service)

    await chat.send("How many hours of sleep do adults need?")
    outcome = await service.wait_for_replies(chat._last_inbox_id or 0, HANG_SECONDS)

    reply = outcome.replies[0]
    assert "seven to nine hours" in reply.text and "[1]" in reply.text
    assert reply.payload["sources"][0]["document"] == "Sleep and running guide"


async def test_the_twin_declines_what_the_material_does_not_cover(service: Coachline) -> None:
    creator = await _default_creator(service)
    await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode())

    reply = await ChatDriver(service).ask("What is the capital of Mongolia?")

    assert "don't cover" in reply or "do not cover" in reply


@pytest.fixture
async def api(service: Coachline) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running service."""
    # The service fixture has started it already: the server must not start it again.
    async with (
        serve_asgi(create_app(service), lifespan="off") as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield client


async def test_rest_upload_list_get_search_and_delete(api: httpx.AsyncClient) -> None:
    uploaded = await api.post(
        "/api/v1/creators/knowledge/upload",
        files={"file": ("guide.md", SLEEP_GUIDE.encode(), "text/markdown")},
        data={"title": "Sleep guide", "description": "basics", "tags": "sleep, habits"},
        headers=ADMIN,
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    assert document["outcome"] == "created" and document["metadata"]["tags"] == ["sleep", "habits"]

    listed = (await api.get("/api/v1/creators/knowledge/documents", headers=ADMIN)).json()
    assert [item["id"] for item in listed["documents"]] == [document["id"]]
    one = await api.get(f"/api/v1/creators/knowledge/documents/{document['id']}", headers=ADMIN)
    assert one.json()["title"] == "Sleep guide"

    context = await api.post(
        "/api/v1/creators/knowledge/knowledge-context/enhanced",
        data={"query": "how much sleep", "limit": "3"},
        headers=ADMIN,
    )
    chunks = context.json()["enhanced_context"]["knowledge_chunks"]
    assert chunks and {"content", "source", "relevance_score"} <= set(chunks[0])
    assert chunks[0]["source"] == "Sleep guide" and 0 <= chunks[0]["relevance_score"] <= 1
    as_json = await api.post(
        "/api/v1/creators/knowledge/knowledge-context/enhanced",
        json={"query": "how much sleep"},
        headers=ADMIN,
    )
    assert (
        as_json.json()["knowledge_chunks"]
        == context.json()["knowledge_chunks"][: len(as_json.json()["knowledge_chunks"])]
    )

    deleted = await api.delete(f"/api/v1/creators/knowledge/documents/{document['id']}", headers=ADMIN)
    assert deleted.status_code == 200
    gone = await api.get(f"/api/v1/creators/knowledge/documents/{document['id']}", headers=ADMIN)
    assert gone.status_code == 404


async def test_search_shows_each_passages_kind_and_the_twins_context_holds_only_prose(
    api: httpx.AsyncClient,
) -> None:
    booklet = "# Contents\n\nSleep … 1 Sleep log … 4 Sleep notes … 9\n\n" + SLEEP_GUIDE
    uploaded = await api.post(
        "/api/v1/creators/knowledge/upload",
        files={"file": ("booklet.md", booklet.encode(), "text/markdown")},
        headers=ADMIN,
    )
    assert uploaded.status_code == 201, uploaded.text

    found = await api.post(
        "/api/v1/creators/knowledge/search", data={"query": "sleep", "limit": "10"}, headers=ADMIN
    )
    kinds = {hit["location"]: hit["kind"] for hit in found.json()["search_results"]["results"]}
    assert "toc" in kinds.values() and "prose" in kinds.values()

    context = await api.post(
        "/api/v1/creators/knowledge/knowledge-context", data={"query": "sleep", "limit": "10"}, headers=ADMIN
    )
    chunks = context.json()["knowledge_chunks"]
    assert chunks and all(chunk["kind"] != "toc" for chunk in chunks)
    assert [chunk["citation"] for chunk in chunks] == list(range(1, len(chunks) + 1))


@pytest.mark.parametrize(
    ("filename", "content", "status", "reason"),
    [
        ("tool.exe", b"MZ\x90\x00binary", 422, "not supported"),
        ("empty.txt", b"", 422, "no text"),
        ("../../etc/passwd.txt", b"root:x:0:0", 422, "path separators"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj garbage", 422, "PDF"),
    ],
)
async def test_rest_upload_refuses_bad_files_with_a_reason(
    api: httpx.AsyncClient, filename: str, content: bytes, status: int, reason: str
) -> None:
    response = await api.post(
        "/api/v1/creators/knowledge/upload",
        files={"file": (filename, content)},
        data={"title": "x"},
        headers=ADMIN,
    )

    assert response.status_code == status
    assert reason.lower() in response.json()["detail"].lower()
    listed = (await api.get("/api/v1/creators/knowledge/documents", headers=ADMIN)).json()
    assert listed["total"] == 0


async def test_rest_upload_over_the_size_limit_is_413(
    make_service: Callable[..., Coachline], tmp_path: Path
) -> None:
    service = make_service(embedder=HashingEmbedder(), vector_store=InMemoryVectorStore(), max_upload_mb=0.01)
    async with serve_asgi(create_app(service)) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(
            "/api/v1/creators/knowledge/upload",
            files={"file": ("big.txt", b"word " * 5000)},
            data={"title": "big"},
            headers=ADMIN,
        )

    assert response.status_code == 413
    assert "MB upload limit" in response.json()["detail"]


async def test_a_creator_key_cannot_reach_another_creators_documents(api: httpx.AsyncClient) -> None:
    uploaded = await api.post(
        "/api/v1/creators/knowledge/upload",
        files={"file": ("guide.md", SLEEP_GUIDE.encode())},
        data={"title": "Sleep guide"},
        headers=ADMIN,
    )
    other = (await api.post("/api/v1/creators", json={"name": "Other"}, headers=ADMIN)).json()
    other_key = {"Authorization": f"Bearer {other['api_key']}"}

    document_id = uploaded.json()["id"]
    assert (
        await api.get(f"/api/v1/creators/knowledge/documents/{document_id}", headers=other_key)
    ).status_code == 404
    assert (
        await api.delete(f"/api/v1/creators/knowledge/documents/{document_id}", headers=other_key)
    ).status_code == 404
    search = await api.post("/api/v1/creators/knowledge/search", data={"query": "sleep"}, headers=other_key)
    assert search.json()["search_results"]["results"] == []


@pytest.fixture
async def console_service(
    make_service: Callable[..., Coachline], store: InMemoryVectorStore
) -> AsyncIterator[Coachline]:
    """A service with the terminal channel, whose user is the operator."""
    channels = {"console": ConsoleChannel(lambda message: None), "web": WebChannel()}
    async with _running(make_service(channels=channels, **_offline_knowledge(store))) as instance:
        yield instance


async def test_upload_in_the_terminal_teaches_the_twin(console_service: Coachline, tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(SLEEP_GUIDE)
    operator = ChatDriver(console_service, channel="console", user_id="op")

    await operator.send(f"/upload {guide}", attachments=(Attachment("document", "guide.md", url=str(guide)),))
    await operator.expect_reply(contains="Learned")
    await operator.send("/docs")
    await operator.expect_reply(contains="guide")

    reply = await ChatDriver(console_service, user_id="client").ask("How many hours of sleep do adults need?")
    assert "seven to nine" in reply


async def test_users_cannot_upload_and_are_told_why(console_service: Coachline, tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(SLEEP_GUIDE)
    client = ChatDriver(console_service, channel="web", user_id="client")

    await client.send("/upload", attachments=(Attachment("document", "guide.md", url=str(guide)),))

    await client.expect_reply(contains="only for creators")
    assert await console_service.knowledge.documents(console_service.default_creator.id) == []  # type: ignore[union-attr]


async def test_a_file_sent_without_a_command_is_uploaded_with_a_progress_note(
    console_service: Coachline, tmp_path: Path
) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(SLEEP_GUIDE)
    operator = ChatDriver(console_service, channel="console", user_id="op")

    await operator.send("", attachments=(Attachment("document", "guide.md", url=str(guide)),))
    reply = await operator.expect_reply(contains="Learned")

    assert reply.startswith("Reading guide.md…")  # the progress note went out first
    assert len(await console_service.knowledge.documents(console_service.default_creator.id)) == 1  # type: ignore[union-attr]


async def test_retrieval_gives_the_hits_above_the_floor_with_their_sentences_scored(
    service: Coachline,
) -> None:
    creator = await _default_creator(service)
    await service.knowledge.ingest(creator, "guide.md", SLEEP_GUIDE.encode())
    question = "How many hours of sleep do adults need?"

    passages = await service.knowledge.retrieve(creator, question, 5)
    hits = await service.knowledge.search(creator, question, 5)

    above = [hit for hit in hits if hit.relevance >= service.knowledge.min_relevance]
    assert [passage.text for passage in passages] == [hit.text for hit in above]
    assert "seven to nine hours" in passages[0].text
    # Each passage carries its sentences, read with the chunks, each scored against the question.
    sleep = passages[0]
    assert sleep.sentences and all(sentence.similarity is not None for sentence in sleep.sentences)
    best = max(sleep.sentences, key=lambda sentence: sentence.similarity or 0.0)
    assert "seven to nine hours" in sleep.text[best.start : best.end]
    assert await service.knowledge.retrieve(creator, "   ", 5) == []

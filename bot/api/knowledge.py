"""`/api/v1/creators/knowledge/...`: upload, list, get and delete documents; search; knowledge context.

The seed's endpoints and field names: `upload` is multipart (`file`, `title`, `description`, `tags`);
`search`, `knowledge-context` and `knowledge-context/enhanced` take form fields (`query`, `limit`,
`similarity_threshold`, `include_personality`) — JSON bodies with the same names work too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, status
from pydantic import BaseModel, Field, ValidationError

from bot.api.deps import Caller, Service, acting_creator
from bot.api.personality import personality_context
from bot.foundation.api_errors import COMMON_ERRORS, error_responses
from bot.foundation.api_requests import RequestModel
from coaching.documents import DocumentRejected
from coaching.documents.passage_kinds import is_quotable
from coaching.knowledge import SearchHit
from coaching.models import KnowledgeDocument

router = APIRouter(prefix="/api/v1/creators/knowledge", tags=["knowledge"], responses=COMMON_ERRORS)

READ_BLOCK = 1024 * 1024


class DocumentMetadataOut(BaseModel):
    """What is known about the uploaded file."""

    filename: str
    file_size: int
    document_type: str
    upload_timestamp: datetime
    content_hash: str
    page_count: int | None
    word_count: int
    tags: list[str]


class DocumentOut(BaseModel):
    """A document of the creator's knowledge base."""

    id: str
    document_id: str
    creator_id: str
    title: str
    description: str | None
    status: str
    chunk_count: int
    warnings: list[str]
    metadata: DocumentMetadataOut
    created_at: datetime
    updated_at: datetime


class UploadOut(DocumentOut):
    """An upload's result: `outcome` is created, duplicate (same content already known) or replaced."""

    outcome: str
    replaced_document_id: str | None = None


class DocumentListOut(BaseModel):
    """A page of documents."""

    documents: list[DocumentOut]
    total: int
    page: int
    page_size: int


class ContextQuery(RequestModel):
    """A question to find material for."""

    query: str = Field(min_length=1, max_length=4000)
    limit: int = Field(10, ge=1, le=50)
    similarity_threshold: float = Field(0.0, ge=0, le=1)
    include_personality: bool = True
    creator_id: str | None = None


class ChunkOut(BaseModel):
    """A retrieved passage in the seed's shape (`content`, `source`, `relevance_score`), with where it is."""

    content: str
    source: str
    relevance_score: float
    document_id: str
    filename: str
    location: str
    chunk_index: int
    kind: str = Field(
        description="what the passage is: prose, list, toc, index, form, table, furniture or links; "
        "only prose and lists are ever quoted in an answer"
    )
    citation: int | None = Field(
        None, description="the [n] this passage would carry in the twin's answer (answer contexts only)"
    )


class SearchResultsOut(BaseModel):
    """The passages found for a query."""

    query: str
    results: list[ChunkOut]
    total_results: int


class SearchOut(BaseModel):
    """A search's answer."""

    message: str
    search_results: SearchResultsOut


class KnowledgeContextOut(BaseModel):
    """The material the twin would answer from."""

    query: str
    knowledge_chunks: list[ChunkOut]
    total_chunks: int


class EnhancedContextOut(BaseModel):
    """The seed's `enhanced_context`: passages plus the creator's personality (when asked for)."""

    knowledge_chunks: list[ChunkOut]
    personality_info: dict[str, Any] | None
    personality_prompt: dict[str, Any] | None = Field(
        description="the seed's {personalized_prompt, confidence_score, ...}; null without a profile"
    )


class EnhancedKnowledgeOut(BaseModel):
    """The enhanced knowledge context; `knowledge_chunks` repeated at the top level."""

    message: str
    query: str
    enhanced_context: EnhancedContextOut
    knowledge_chunks: list[ChunkOut]


class DocumentDeletedOut(BaseModel):
    """A forgotten document."""

    message: str
    document_id: str


# The query may come as form fields (the seed) or as JSON with the same names.
_QUERY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ContextQuery"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/ContextQuery"}},
        },
    }
}


def document_out(document: KnowledgeDocument) -> dict[str, Any]:
    """The API form of a document row."""
    return {
        "id": document.id,
        "document_id": document.id,
        "creator_id": document.creator_id,
        "title": document.title,
        "description": document.description,
        "status": document.status,
        "chunk_count": document.chunk_count,
        "warnings": document.warnings,
        "metadata": {
            "filename": document.filename,
            "file_size": document.size_bytes,
            "document_type": document.kind,
            "upload_timestamp": document.created_at,
            "content_hash": document.content_hash,
            "page_count": document.pages,
            "word_count": document.word_count,
            "tags": document.tags,
        },
        "created_at": document.created_at,
        "updated_at": document.updated_at,
    }


def chunk_out(hit: SearchHit) -> dict[str, Any]:
    """A retrieved chunk in the seed's shape, plus where it is in the document."""
    return {
        "content": hit.text,
        "source": hit.title,
        "relevance_score": round(hit.relevance, 4),
        "document_id": hit.document_id,
        "filename": hit.source,
        "location": hit.location,
        "chunk_index": hit.position,
        "kind": hit.kind,  # prose, list, toc, index, form, table, furniture, links (passage_kinds)
    }


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, refusing (413) as soon as it passes `limit` — never reading more."""
    data = bytearray()
    while block := await upload.read(READ_BLOCK):
        data.extend(block)
        if len(data) > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"the file is larger than the {limit / 1024 / 1024:g} MB upload limit (COACH_MAX_UPLOAD_MB)",
            )
    return bytes(data)


@router.post(
    "/upload", status_code=status.HTTP_201_CREATED, response_model=UploadOut, responses=error_responses(413)
)
async def upload(
    service: Service,
    principal: Caller,
    file: Annotated[UploadFile, File(description="PDF, DOCX, TXT, Markdown or HTML")],
    title: Annotated[str | None, Form(max_length=300)] = None,
    description: Annotated[str | None, Form(max_length=4000)] = None,
    tags: Annotated[str | None, Form(description="comma-separated")] = None,
    creator_id: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Add a document to the creator's knowledge (a new version of a file replaces the old one)."""
    creator = await acting_creator(service, principal, creator_id)
    data = await read_limited(file, service.settings.max_upload_bytes)
    try:
        result = await service.knowledge.ingest(
            creator,
            file.filename or "",
            data,
            title=title,
            description=description,
            tags=[tag.strip() for tag in (tags or "").split(",") if tag.strip()],
        )
    except DocumentRejected as rejected:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, rejected.reason) from None
    return {
        **document_out(result.document),
        "outcome": result.outcome,
        "replaced_document_id": result.replaced_document_id,
    }


@router.get("/documents", response_model=DocumentListOut)
async def list_documents(
    service: Service,
    principal: Caller,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    creator_id: str | None = None,
) -> dict[str, Any]:
    """The creator's documents, newest first."""
    creator = await acting_creator(service, principal, creator_id)
    documents = await service.knowledge.documents(creator)
    start = (page - 1) * page_size
    return {
        "documents": [document_out(document) for document in documents[start : start + page_size]],
        "total": len(documents),
        "page": page,
        "page_size": page_size,
    }


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(
    document_id: str, service: Service, principal: Caller, creator_id: str | None = None
) -> dict[str, Any]:
    """One document."""
    creator = await acting_creator(service, principal, creator_id)
    document = await service.knowledge.document(creator, document_id)
    if document is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "document not found")
    return document_out(document)


@router.delete("/documents/{document_id}", response_model=DocumentDeletedOut)
async def delete_document(
    document_id: str, service: Service, principal: Caller, creator_id: str | None = None
) -> dict[str, str]:
    """Forget a document and every chunk of it."""
    creator = await acting_creator(service, principal, creator_id)
    if not await service.knowledge.delete(creator, document_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "document not found")
    return {"message": "Document deleted successfully", "document_id": document_id}


async def context_query(request: Request) -> ContextQuery:
    """The query from a form or a JSON body (the seed used forms)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            body: Any = await request.json()
        else:
            body = dict(await request.form())
        if not isinstance(body, dict):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "send the query as form fields or a JSON object"
            )
        body.setdefault("creator_id", request.query_params.get("creator_id"))
        return ContextQuery.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from None
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the body is not valid JSON") from None


async def _chunks(
    service: Service, principal: Caller, query: ContextQuery, *, quotable_only: bool = False
) -> list[dict[str, Any]]:
    creator = await acting_creator(service, principal, query.creator_id)
    hits = await service.knowledge.search(creator, query.query, query.limit)
    chosen = [hit for hit in hits if hit.relevance >= query.similarity_threshold]
    if quotable_only:
        # The twin's material: a table of contents or a link list is searchable, never answered from.
        # `citation` is the [n] a reply written from these chunks would use.
        chosen = [hit for hit in chosen if is_quotable(hit.kind)]
        return [{**chunk_out(hit), "citation": number} for number, hit in enumerate(chosen, start=1)]
    return [chunk_out(hit) for hit in chosen]


@router.post("/search", response_model=SearchOut, openapi_extra=_QUERY_BODY)
async def search(request: Request, service: Service, principal: Caller) -> dict[str, Any]:
    """The creator's chunks most relevant to `query`, with their relevance in [0, 1]."""
    query = await context_query(request)
    results = await _chunks(service, principal, query)
    return {
        "message": "Search completed successfully",
        "search_results": {"query": query.query, "results": results, "total_results": len(results)},
    }


@router.post("/knowledge-context", response_model=KnowledgeContextOut, openapi_extra=_QUERY_BODY)
async def knowledge_context(request: Request, service: Service, principal: Caller) -> dict[str, Any]:
    """The material the twin would answer `query` from."""
    query = await context_query(request)
    chunks = await _chunks(service, principal, query, quotable_only=True)
    return {"query": query.query, "knowledge_chunks": chunks, "total_chunks": len(chunks)}


@router.post("/knowledge-context/enhanced", response_model=EnhancedKnowledgeOut, openapi_extra=_QUERY_BODY)
async def enhanced_knowledge_context(request: Request, service: Service, principal: Caller) -> dict[str, Any]:
    """The knowledge context in the seed's `enhanced_context` shape, with the creator's personality
    (`personality_info`, `personality_prompt`) when `include_personality`; `knowledge_chunks` is
    repeated at the top level for convenience."""
    query = await context_query(request)
    chunks = await _chunks(service, principal, query, quotable_only=True)
    enhanced: dict[str, Any] = {
        "knowledge_chunks": chunks,
        "personality_info": None,
        "personality_prompt": None,
    }
    if query.include_personality:
        creator = await acting_creator(service, principal, query.creator_id)
        enhanced.update(await personality_context(service, creator))
    return {
        "message": "Enhanced knowledge context retrieved successfully",
        "query": query.query,
        "enhanced_context": enhanced,
        "knowledge_chunks": chunks,
    }

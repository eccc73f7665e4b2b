"""`/api/v1/creators/knowledge/upload/batch`: many files in one request, ingested as one batch job.

`POST` (multipart, several `files`) answers 202 at once with the job's id and where to follow it;
`GET .../batch/{job_id}` tells its progress (files read, chunks embedded, the stage) and, once done,
one result per file. The batch embeds every chunk in length-sorted calls, writes them in bulk and
re-analyses the personality once (`coaching/bulk_ingest.py`). Jobs live in the instance that took the
upload (the dashboard polls that instance); the documents they make are in the shared stores.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status
from pydantic import BaseModel

from bot.api.deps import Caller, Service, acting_creator
from bot.api.knowledge import read_limited
from bot.foundation.api_errors import COMMON_ERRORS, error_responses
from coaching.bulk_ingest import BatchFile, BatchProgress, FileResult, ingest_batch

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1/creators/knowledge/upload/batch",
    tags=["knowledge"],
    responses={**COMMON_ERRORS, **error_responses(413)},
)
KEPT_JOBS = 100  # finished jobs remembered per instance, newest kept
MAX_FILES = 1000


class FileResultOut(BaseModel):
    """What came of one file: created, duplicate, replaced, or rejected (with the reason)."""

    filename: str
    outcome: Literal["created", "duplicate", "replaced", "rejected"]
    document_id: str | None
    chunk_count: int | None
    reason: str | None
    replaced_document_id: str | None


class BatchJobOut(BaseModel):
    """A batch upload's progress: `state` is running, done or failed; `results` come when done."""

    job_id: str
    creator_id: str
    state: Literal["running", "done", "failed"]
    stage: str
    files_total: int
    files_parsed: int
    chunks_total: int
    chunks_embedded: int
    error: str | None
    results: list[FileResultOut]
    status_url: str


@dataclass
class BatchJob:
    """One batch upload being ingested in the background."""

    job_id: str
    creator_id: str
    progress: BatchProgress
    state: Literal["running", "done", "failed"] = "running"
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class BatchJobs:
    """The batch jobs this instance runs or ran lately."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, BatchJob] = OrderedDict()

    def add(self, job: BatchJob) -> None:
        """Remember a job, forgetting the oldest finished ones beyond `KEPT_JOBS`."""
        self._jobs[job.job_id] = job
        for old in [key for key, value in self._jobs.items() if value.state != "running"][:-KEPT_JOBS]:
            del self._jobs[old]

    def get(self, job_id: str) -> BatchJob | None:
        """A job by id."""
        return self._jobs.get(job_id)


def _jobs(request: Request) -> BatchJobs:
    jobs: BatchJobs | None = getattr(request.app.state, "knowledge_batch_jobs", None)
    if jobs is None:
        jobs = request.app.state.knowledge_batch_jobs = BatchJobs()
    return jobs


def _result_out(result: FileResult) -> FileResultOut:
    document = result.document
    return FileResultOut(
        filename=result.filename,
        outcome=result.outcome,
        document_id=document.id if document is not None else None,
        chunk_count=document.chunk_count if document is not None else None,
        reason=result.reason,
        replaced_document_id=result.replaced_document_id,
    )


def _job_out(job: BatchJob, request: Request) -> BatchJobOut:
    progress = job.progress
    return BatchJobOut(
        job_id=job.job_id,
        creator_id=job.creator_id,
        state=job.state,
        stage=progress.stage,
        files_total=progress.files_total,
        files_parsed=progress.files_parsed,
        chunks_total=progress.chunks_total,
        chunks_embedded=progress.chunks_embedded,
        error=job.error,
        results=[_result_out(result) for result in progress.results],
        status_url=str(request.url_for("batch_upload_status", job_id=job.job_id).path),
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=BatchJobOut)
async def upload_batch(
    request: Request,
    service: Service,
    principal: Caller,
    files: Annotated[list[UploadFile], File(description="PDF, DOCX, TXT, Markdown or HTML files")],
    creator_id: Annotated[str | None, Form()] = None,
) -> BatchJobOut:
    """Ingest several files as one batch; follow it at `status_url`."""
    creator = await acting_creator(service, principal, creator_id)
    if len(files) > MAX_FILES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"at most {MAX_FILES} files a batch")
    batch = [
        BatchFile(file.filename or "", await read_limited(file, service.settings.max_upload_bytes))
        for file in files
    ]
    job = BatchJob(uuid.uuid4().hex, creator, BatchProgress(files_total=len(batch)))

    def track(progress: BatchProgress) -> None:
        job.progress = progress

    async def run() -> None:
        try:
            await ingest_batch(service.knowledge, creator, batch, on_progress=track)
        except Exception as exc:  # the job reports it; the uploader polls for it
            log.exception("batch upload %s failed", job.job_id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            job.state = "done"

    job.task = asyncio.create_task(run(), name=f"batch-upload-{job.job_id}")
    _jobs(request).add(job)
    return _job_out(job, request)


@router.get("/{job_id}", response_model=BatchJobOut, name="batch_upload_status")
async def batch_status(request: Request, service: Service, principal: Caller, job_id: str) -> BatchJobOut:
    """A batch upload's progress, and its results once done."""
    job = _jobs(request).get(job_id)
    if job is None or (not principal.is_admin and principal.creator_id != job.creator_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no batch upload {job_id!r} on this instance")
    return _job_out(job, request)

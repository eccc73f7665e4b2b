"""The demo creator: a coach with a short handbook and the 21-day sample program, so the first
question on a fresh install gets a real, cited answer (`run.py serve --demo`).

Loading is idempotent: the creator has a fixed id, the handbook is recognised by its hash, and the
program is imported only when the creator has none of that title.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.resources import as_file, files

from sqlalchemy import select

from bot.foundation.tables import Creator
from bot.runtime import Coachline
from bot.secrets import hash_secret, new_api_key
from coaching.documents import DocumentRejected
from programs.importer import import_program, read_program_file
from programs.models import Program

log = logging.getLogger(__name__)

DEMO_CREATOR_ID = "demo-maya"
DEMO_CREATOR_NAME = "Maya Ortiz"
HANDBOOK_FILE = "small_steps_handbook.md"
HANDBOOK_TITLE = "Small Steps: A Handbook for Sleep, Food, Movement and Calm"
PROGRAM_FILE = "21_day_habits.yaml"


@dataclass(frozen=True, slots=True)
class DemoLoaded:
    """What loading the demo did: the creator, the handbook's outcome and the program."""

    creator_id: str
    handbook: str  # "created", "duplicate", "replaced", or why it could not be learned
    program_id: str
    program_created: bool


def handbook_text() -> str:
    """The demo coach's handbook (Markdown, shipped with the package)."""
    return files("bot.demo").joinpath(HANDBOOK_FILE).read_text(encoding="utf-8")


async def load_demo(service: Coachline) -> DemoLoaded:
    """Make sure the demo creator, its handbook and its program exist (a started service)."""
    now = service.now()
    async with service.sessions.begin() as session:
        if await session.get(Creator, DEMO_CREATOR_ID) is None:
            # Nobody claims the demo coach; the admin key acts for it (dashboard, REST API).
            session.add(
                Creator(
                    id=DEMO_CREATOR_ID,
                    name=DEMO_CREATOR_NAME,
                    api_key_hash=hash_secret(new_api_key("cr")),
                    claim_code_hash=None,
                    is_default=False,
                    created_at=now,
                )
            )
    handbook = await _learn_handbook(service)
    program_id, created = await _import_program(service)
    log.info(
        "Demo creator %s (%s): handbook %s, program %s %s",
        DEMO_CREATOR_NAME,
        DEMO_CREATOR_ID,
        handbook,
        program_id,
        "imported" if created else "already there",
    )
    return DemoLoaded(DEMO_CREATOR_ID, handbook, program_id, created)


async def _learn_handbook(service: Coachline) -> str:
    data = handbook_text().encode("utf-8")
    try:
        result = await service.knowledge.ingest(
            DEMO_CREATOR_ID,
            HANDBOOK_FILE,
            data,
            title=HANDBOOK_TITLE,
            description="Maya Ortiz's handbook of small habits (Coachline's demo).",
            tags=("demo", "habits"),
        )
    except DocumentRejected as rejected:
        log.warning("The demo handbook was not learned: %s", rejected.reason)
        return f"not learned: {rejected.reason}"
    except Exception as exc:  # embeddings unavailable, say: the demo still starts, degraded
        log.warning("The demo handbook was not learned (document search is unavailable): %s", exc)
        return f"not learned: {exc}"
    return result.outcome


async def _import_program(service: Coachline) -> tuple[str, bool]:
    with as_file(files("config").joinpath("programs", PROGRAM_FILE)) as path:
        body = read_program_file(path)
    async with service.sessions.begin() as session:
        existing = await session.scalar(
            select(Program.id).where(Program.creator_id == DEMO_CREATOR_ID, Program.title == body.title)
        )
        if existing is not None:
            return existing, False
        program = await import_program(session, DEMO_CREATOR_ID, body, service.now())
        return program.id, True

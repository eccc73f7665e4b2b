"""Creators' personality profiles: analysed from their documents, stored in versions, cached, refreshed.

A profile is re-analysed when the creator's set of documents changes (its fingerprint differs from
the one the profile was made from) or on request (`force`). Uploads and deletions start a refresh
in the background at once, so the twin's voice follows the documents without anyone asking.
Answers never wait for a model's analysis: they use the newest stored profile meanwhile, and wait
only briefly for a first profile when there is none yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.foundation.clock import Clock
from coaching.generation import Persona
from coaching.knowledge import KnowledgeBase
from coaching.knowledge_seam import PlainPersona
from coaching.models import PersonalityProfileRecord
from coaching.personality.consistency import ConsistencyScore, consistency
from coaching.personality.profile import PROFILE_FORMAT, PersonalityProfile
from coaching.personality.voice import persona_from_profile

log = logging.getLogger(__name__)

AnalysisDepth = Literal["quick", "standard", "deep"]
# How many words of the creator's documents each depth reads (None: all of them).
DEPTH_WORDS: dict[str, int | None] = {"quick": 5_000, "standard": 40_000, "deep": None}
FIRST_PROFILE_WAIT_SECONDS = 3.0
# How often an answer may look whether the documents changed. Changes made through this instance
# are seen at once (the knowledge base tells the service); other instances' within this many seconds.
STALENESS_CHECK_SECONDS = 10.0


class Analyser(Protocol):
    """Makes a profile from a creator's document texts."""

    name: str

    async def analyse(self, creator_id: str, texts: Sequence[str]) -> PersonalityProfile:
        """The profile of the author of `texts`."""
        ...


@dataclass(frozen=True, slots=True)
class AnalysisOutcome:
    """The profile an analysis request ended with, and whether it was made now or reused."""

    profile: PersonalityProfile | None
    status: Literal["completed", "cached", "no_documents"]
    seconds: float


class PersonalityService:
    """Profiles per creator; also the responder's `PersonaProvider`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        knowledge: KnowledgeBase,
        analyser: Analyser,
        clock: Clock,
        *,
        cache_ttl_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._knowledge = knowledge
        self.analyser = analyser
        self._clock = clock
        self.cache_ttl = cache_ttl_seconds
        self._cache: dict[str, tuple[float, PersonalityProfile | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshes: dict[str, asyncio.Task[None]] = {}
        self._last_check: dict[str, float] = {}
        knowledge.on_change(self.schedule_refresh)

    async def current(self, creator_id: str) -> PersonalityProfile | None:
        """The newest stored profile (cached for the TTL), whether or not the documents moved on."""
        cached = self._cache.get(creator_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        profile = await self._load_latest(creator_id)
        self._cache[creator_id] = (time.monotonic() + self.cache_ttl, profile)
        return profile

    async def analyze(
        self, creator_id: str, *, force: bool = False, depth: AnalysisDepth = "standard"
    ) -> AnalysisOutcome:
        """Analyse the creator's documents, unless the current profile already matches them."""
        started = time.perf_counter()
        async with self._lock(creator_id):
            fingerprint = await self._knowledge.fingerprint(creator_id)
            latest = await self._load_latest(creator_id)
            if not fingerprint:
                return AnalysisOutcome(latest, "no_documents", time.perf_counter() - started)
            if latest is not None and not force and _up_to_date(latest, fingerprint):
                return AnalysisOutcome(latest, "cached", time.perf_counter() - started)
            texts = _limit_words(await self._knowledge.document_texts(creator_id), DEPTH_WORDS[depth])
            profile = await self.analyser.analyse(creator_id, texts)
            stored = await self._store(creator_id, profile, fingerprint, depth)
            self._cache[creator_id] = (time.monotonic() + self.cache_ttl, stored)
            log.info(
                "personality of %s analysed (%s, v%d, confidence %.2f)",
                creator_id,
                stored.analyser,
                stored.version,
                stored.confidence_score,
            )
            return AnalysisOutcome(stored, "completed", time.perf_counter() - started)

    def schedule_refresh(self, creator_id: str) -> None:
        """Re-analyse in the background (one refresh per creator at a time)."""
        self._cache.pop(creator_id, None)
        self._last_check.pop(creator_id, None)
        running = self._refreshes.get(creator_id)
        if running is not None and not running.done():
            return
        task = asyncio.get_running_loop().create_task(
            self._refresh(creator_id), name=f"personality-{creator_id}"
        )
        self._refreshes[creator_id] = task

    async def settle(self) -> None:
        """Wait for the background refreshes running now (tests and shutdown)."""
        running = [task for task in self._refreshes.values() if not task.done()]
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def persona(self, creator_id: str, creator_name: str) -> Persona:
        """The voice the twin answers in: from the profile, or plain when there is none yet."""
        profile = await self.current(creator_id)
        if profile is None:
            profile = await self._first_profile(creator_id)
        else:
            await self._refresh_if_stale(creator_id, profile)
        if profile is None:
            return await PlainPersona().persona(creator_id, creator_name)
        return persona_from_profile(profile, creator_name)

    async def consistency(self, creator_id: str, text: str) -> ConsistencyScore | None:
        """How much `text` sounds like the creator (None before any profile exists)."""
        profile = await self.current(creator_id)
        return consistency(text, profile) if profile is not None else None

    async def versions(self, creator_id: str) -> list[PersonalityProfile]:
        """Every stored version of the creator's profile, newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PersonalityProfileRecord)
                .where(PersonalityProfileRecord.creator_id == creator_id)
                .order_by(PersonalityProfileRecord.version.desc())
            )
            return [_from_record(row) for row in rows]

    async def aclose(self) -> None:
        """Stop background refreshes and release the analyser's connections."""
        for task in self._refreshes.values():
            task.cancel()
        await asyncio.gather(*self._refreshes.values(), return_exceptions=True)
        close = getattr(self.analyser, "aclose", None)
        if close is not None:
            await close()

    def _due_for_check(self, creator_id: str) -> bool:
        now = time.monotonic()
        if now - self._last_check.get(creator_id, -STALENESS_CHECK_SECONDS) < STALENESS_CHECK_SECONDS:
            return False
        self._last_check[creator_id] = now
        return True

    async def _first_profile(self, creator_id: str) -> PersonalityProfile | None:
        # No profile yet: start one and give it a moment (offline analysis takes well under that).
        running = self._refreshes.get(creator_id)
        if (running is None or running.done()) and not self._due_for_check(creator_id):
            return None  # looked a moment ago: no documents yet
        if not await self._knowledge.fingerprint(creator_id):
            return None
        self.schedule_refresh(creator_id)
        task = self._refreshes[creator_id]
        done, _ = await asyncio.wait({task}, timeout=FIRST_PROFILE_WAIT_SECONDS)
        return await self.current(creator_id) if done else None

    async def _refresh_if_stale(self, creator_id: str, profile: PersonalityProfile) -> None:
        if not self._due_for_check(creator_id):
            return
        fingerprint = await self._knowledge.fingerprint(creator_id)
        if fingerprint and not _up_to_date(profile, fingerprint):
            self.schedule_refresh(creator_id)

    async def _refresh(self, creator_id: str) -> None:
        try:
            await self.analyze(creator_id)
        except Exception:
            log.exception("personality refresh failed for creator %s", creator_id)

    def _lock(self, creator_id: str) -> asyncio.Lock:
        return self._locks.setdefault(creator_id, asyncio.Lock())

    async def _load_latest(self, creator_id: str) -> PersonalityProfile | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(PersonalityProfileRecord)
                .where(PersonalityProfileRecord.creator_id == creator_id)
                .order_by(PersonalityProfileRecord.version.desc())
                .limit(1)
            )
            return _from_record(row) if row is not None else None

    async def _store(
        self, creator_id: str, profile: PersonalityProfile, fingerprint: str, depth: str
    ) -> PersonalityProfile:
        now = self._clock.now()
        evidence = {**profile.evidence, "analysis_depth": depth}
        for _ in range(3):  # another instance may take the same version number: take the next
            try:
                async with self._sessions.begin() as session:
                    latest = await session.scalar(
                        select(func.max(PersonalityProfileRecord.version)).where(
                            PersonalityProfileRecord.creator_id == creator_id
                        )
                    )
                    stored = replace(
                        profile,
                        version=(latest or 0) + 1,
                        documents_fingerprint=fingerprint,
                        created_at=now.isoformat(),
                        evidence=evidence,
                    )
                    session.add(
                        PersonalityProfileRecord(
                            creator_id=creator_id,
                            version=stored.version,
                            documents_fingerprint=fingerprint,
                            analyser=stored.analyser,
                            confidence_score=stored.confidence_score,
                            profile=stored.to_dict(),
                            created_at=now,
                        )
                    )
                return stored
            except IntegrityError:
                continue
        raise RuntimeError(f"could not store a new personality version for {creator_id}")


def _up_to_date(profile: PersonalityProfile, fingerprint: str) -> bool:
    """Made from these documents, in the current format (older formats lack the signature and phrases)."""
    return profile.documents_fingerprint == fingerprint and profile.profile_format >= PROFILE_FORMAT


def _from_record(row: PersonalityProfileRecord) -> PersonalityProfile:
    return PersonalityProfile.from_dict(row.profile)


def _limit_words(texts: list[str], max_words: int | None) -> list[str]:
    """At most `max_words` words in all, shared evenly between the documents."""
    if max_words is None or not texts:
        return texts
    share = max(1, max_words // len(texts))
    return [" ".join(text.split(" ")[:share]) if len(text.split()) > share else text for text in texts]

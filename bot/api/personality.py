"""`/api/v1/creators/knowledge/personality/...`: analyse, read, and score consistency (the seed's Phase 2)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from bot.api.deps import Caller, Service, acting_creator
from bot.api.errors import COMMON_ERRORS, error_responses
from bot.api.strict import RequestModel
from bot.foundation.tables import Creator
from coaching.personality.profile import PersonalityProfile
from coaching.personality.voice import personality_prompt

router = APIRouter(
    prefix="/api/v1/creators/knowledge/personality", tags=["personality"], responses=COMMON_ERRORS
)


class TraitOut(BaseModel):
    """The seed's trait: a dimension, its level and how sure the analysis is."""

    dimension: str
    value: float | str  # a level in [0, 1] (the seed wrote words: "high")
    confidence: float


class PersonalityProfileOut(BaseModel):
    """The seed's profile fields; the analysis adds its evidence and measurements beside them."""

    model_config = ConfigDict(extra="allow")

    personality_summary: str
    dominant_traits: list[TraitOut]
    key_methodologies: list[str]
    confidence_score: float


class AnalysisOut(BaseModel):
    """An analysis: `analysis_status` says whether the profile was made now or reused."""

    creator_id: str
    analysis_status: str
    traits_discovered: int
    processing_time_ms: float
    personality_profile: PersonalityProfileOut


class CurrentProfileOut(BaseModel):
    """The creator's profile and the prompt it makes."""

    creator_id: str
    personality_profile: PersonalityProfileOut
    personality_prompt: dict[str, Any] = Field(
        description="the seed's {personalized_prompt, confidence_score, ...}"
    )


class VersionsOut(BaseModel):
    """Every stored version, newest first."""

    creator_id: str
    versions: list[PersonalityProfileOut]


class ConsistencyOut(BaseModel):
    """How much a text sounds like the creator (the score's parts beside it)."""

    model_config = ConfigDict(extra="allow")

    creator_id: str
    overall_score: float
    is_consistent: bool
    threshold: float


# A text scoring at least this against the profile is reported `is_consistent`.
CONSISTENCY_THRESHOLD = 0.6


class PersonalityAnalysisRequest(RequestModel):
    """The seed's analysis request."""

    creator_id: str | None = None
    force_reanalysis: bool = False
    analysis_depth: Literal["quick", "standard", "deep"] = "standard"
    include_documents: bool = True  # accepted for the seed's sake: documents are always the source


class ConsistencyMonitoringRequest(RequestModel):
    """A text to compare with the creator's profile (`response_text`, or `text`)."""

    creator_id: str | None = None
    response_text: str | None = Field(None, max_length=50_000)
    text: str | None = Field(None, max_length=50_000)


def profile_out(profile: PersonalityProfile) -> dict[str, Any]:
    """A profile as the API returns it."""
    return profile.to_dict()


@router.post("/analyze", response_model=AnalysisOut, responses=error_responses(409))
async def analyze(body: PersonalityAnalysisRequest, service: Service, principal: Caller) -> dict[str, Any]:
    """Analyse the creator's documents (reusing the profile when they have not changed, unless forced)."""
    creator_id = await acting_creator(service, principal, body.creator_id)
    outcome = await service.personality.analyze(
        creator_id, force=body.force_reanalysis, depth=body.analysis_depth
    )
    if outcome.status == "no_documents" and outcome.profile is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this creator has no documents yet: upload some (POST /api/v1/creators/knowledge/upload) first",
        )
    assert outcome.profile is not None
    return {
        "creator_id": creator_id,
        "analysis_status": outcome.status,
        "traits_discovered": len(outcome.profile.traits),
        "processing_time_ms": round(outcome.seconds * 1000, 1),
        "personality_profile": profile_out(outcome.profile),
    }


@router.get("", response_model=CurrentProfileOut)
async def current_profile(
    service: Service, principal: Caller, creator_id: str | None = Query(None)
) -> dict[str, Any]:
    """The creator's current profile and the prompt it makes."""
    creator = await acting_creator(service, principal, creator_id)
    profile = await service.personality.current(creator)
    if profile is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "no personality profile yet: upload documents, or POST .../personality/analyze",
        )
    name = await _creator_name(service, creator)
    return {
        "creator_id": creator,
        "personality_profile": profile_out(profile),
        "personality_prompt": personality_prompt(profile, name),
    }


@router.get("/versions", response_model=VersionsOut)
async def versions(
    service: Service, principal: Caller, creator_id: str | None = Query(None)
) -> dict[str, Any]:
    """Every stored version of the profile, newest first."""
    creator = await acting_creator(service, principal, creator_id)
    profiles = await service.personality.versions(creator)
    return {"creator_id": creator, "versions": [profile_out(profile) for profile in profiles]}


@router.post("/monitor-consistency", response_model=ConsistencyOut)
async def monitor_consistency(
    body: ConsistencyMonitoringRequest, service: Service, principal: Caller
) -> dict[str, Any]:
    """How much a text sounds like the creator (see `coaching/personality/consistency.py`)."""
    creator = await acting_creator(service, principal, body.creator_id)
    text = body.response_text or body.text
    if not text or not text.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "response_text: give the text to score")
    score = await service.personality.consistency(creator, text)
    if score is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no personality profile yet to compare with")
    return {
        "creator_id": creator,
        "overall_score": score.score,
        "is_consistent": score.score >= CONSISTENCY_THRESHOLD,
        "threshold": CONSISTENCY_THRESHOLD,
        **score.to_dict(),
    }


async def personality_context(service: Service, creator_id: str) -> dict[str, Any]:
    """The seed's `personality_info` and `personality_prompt` for the enhanced knowledge context."""
    profile = await service.personality.current(creator_id)
    if profile is None:
        return {
            "personality_info": {
                "message": "No personality profile available. Run personality analysis first."
            },
            "personality_prompt": None,
        }
    return {
        "personality_info": {
            "personality_summary": profile.personality_summary,
            "key_methodologies": list(profile.key_methodologies),
            "confidence_score": profile.confidence_score,
            "dominant_traits": [trait.to_dict() for trait in profile.dominant_traits],
        },
        "personality_prompt": personality_prompt(profile, await _creator_name(service, creator_id)),
    }


async def _creator_name(service: Service, creator_id: str) -> str:
    async with service.sessions() as session:
        creator = await session.get_one(Creator, creator_id)
        return creator.name

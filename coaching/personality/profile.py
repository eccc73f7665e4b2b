"""A creator's personality profile: the seed's fields plus the measured style behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coaching.personality.phrasebook import Phrasebook
from coaching.personality.signature import Signature

# The stored JSON's format. 1: the seed's fields, traits and style rates. 2: adds the stylometric
# `signature` the consistency score compares against and the `phrasebook` offline answers speak with.
# Stored profiles of every format load; the service re-analyses older ones when it next uses them.
PROFILE_FORMAT = 2


@dataclass(frozen=True, slots=True)
class Trait:
    """One personality dimension: its value in [0, 1] and how sure the analysis is of it."""

    dimension: str
    value: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """The seed's `{dimension, value, confidence}`."""
        return {"dimension": self.dimension, "value": self.value, "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class PersonalityProfile:
    """What a creator sounds like, analysed from their documents.

    `traits` holds every dimension; `dominant_traits` the few that stand out most. `style_features`
    are the measured rates (`features.STYLE_FEATURES`) the summary and the model's prompt are written
    from; `signature` is what the consistency score compares against, and `phrasebook` the creator's
    own openers, closers and transitions. `profile_format` says which of these the profile was made with.
    """

    creator_id: str
    personality_summary: str
    traits: tuple[Trait, ...]
    key_methodologies: tuple[str, ...]
    confidence_score: float
    style_features: dict[str, float]
    evidence: dict[str, Any]  # words, sentences, documents, key phrases, methodology counts
    analyser: str  # "offline" or "ollama:<model>"
    notes: tuple[str, ...] = ()  # e.g. why the model's answer was not used
    version: int = 0
    documents_fingerprint: str = ""
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    signature: Signature | None = None
    phrasebook: Phrasebook = field(default_factory=Phrasebook)
    profile_format: int = 1

    @property
    def dominant_traits(self) -> tuple[Trait, ...]:
        """The three most present dimensions: highest value times confidence."""
        ranked = sorted(self.traits, key=lambda trait: -trait.value * trait.confidence)
        return tuple(ranked[:3])

    def trait(self, dimension: str) -> float:
        """A dimension's value (0.5, neutral, when the profile lacks it)."""
        return next((trait.value for trait in self.traits if trait.dimension == dimension), 0.5)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored and returned by the API (the seed's names first)."""
        return {
            "creator_id": self.creator_id,
            "personality_summary": self.personality_summary,
            "dominant_traits": [trait.to_dict() for trait in self.dominant_traits],
            "key_methodologies": list(self.key_methodologies),
            "confidence_score": self.confidence_score,
            "traits": [trait.to_dict() for trait in self.traits],
            "style_features": self.style_features,
            "evidence": self.evidence,
            "analyser": self.analyser,
            "notes": list(self.notes),
            "version": self.version,
            "documents_fingerprint": self.documents_fingerprint,
            "created_at": self.created_at,
            "profile_format": self.profile_format,
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "phrasebook": self.phrasebook.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PersonalityProfile:
        """The inverse of `to_dict`; also reads the stored JSON of every earlier format."""
        signature = data.get("signature")
        return cls(
            creator_id=str(data["creator_id"]),
            personality_summary=str(data["personality_summary"]),
            traits=tuple(
                Trait(str(item["dimension"]), float(item["value"]), float(item["confidence"]))
                for item in data.get("traits", data.get("dominant_traits", []))
            ),
            key_methodologies=tuple(str(item) for item in data.get("key_methodologies", [])),
            confidence_score=float(data["confidence_score"]),
            style_features={key: float(value) for key, value in data.get("style_features", {}).items()},
            evidence=dict(data.get("evidence", {})),
            analyser=str(data.get("analyser", "offline")),
            notes=tuple(str(note) for note in data.get("notes", [])),
            version=int(data.get("version", 0)),
            documents_fingerprint=str(data.get("documents_fingerprint", "")),
            created_at=data.get("created_at"),
            signature=Signature.from_dict(signature) if signature else None,
            phrasebook=Phrasebook.from_dict(data.get("phrasebook") or {}),
            profile_format=int(data.get("profile_format", 1)),
        )

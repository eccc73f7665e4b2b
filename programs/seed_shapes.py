"""The seed's nested answers, built beside the richer flat ones from the same measured figures.

The seed shows an executed step as `step_execution` and analytics under `analytics`
(`knowledge_integration`, `personality_consistency`, `program_effectiveness`). Every number here is
taken from data; one the data cannot give (a satisfaction score no one was asked for) is null.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

from programs.executor import StepOutput


def step_execution(step_id: str, query: str | None, output: StepOutput, elapsed_ms: float) -> dict[str, Any]:
    """The seed's `step_execution` block for one executed step."""
    relevances = [
        float(item["relevance_score"]) for item in output.knowledge_used if "relevance_score" in item
    ]
    return {
        "step_id": step_id,
        "integrations_applied": {
            "knowledge_context": {
                "query": query,
                "chunks_retrieved": len(output.knowledge_used),
                "relevance_avg": round(fmean(relevances), 4) if relevances else None,
            },
            "personality_enhancement": {
                "applied": output.personality_applied,
                "consistency_score": output.personality_consistency,
            },
            "ai_generation": {"processing_time_ms": elapsed_ms},
        },
        "final_output": {
            "message": output.text,
            # A test user has received nothing yet, so there is no engagement to measure.
            "engagement_score": None,
            "personality_consistency": output.personality_consistency,
        },
    }


def seed_analytics(flat: dict[str, Any]) -> dict[str, Any]:
    """The seed's `analytics` block from the flat analytics (see their `definitions`)."""
    return {
        "knowledge_integration": {
            "avg_relevance_score": flat.get("average_relevance"),
            "knowledge_utilization_rate": flat.get("knowledge_utilisation"),
            "top_topics": [item["topic"] for item in flat.get("top_topics", [])],
        },
        "personality_consistency": {"avg_consistency_score": flat.get("personality_consistency")},
        "program_effectiveness": {
            "completion_rate": flat.get("completion_rate"),
            "user_satisfaction": None,  # nothing asks people how satisfied they are
        },
    }

"""A profile turned into a voice: the system prompt a model gets, and the reply style offline answers use."""

from __future__ import annotations

from typing import Any

from coaching.generation import Persona, ReplyStyle
from coaching.personality.profile import PersonalityProfile

TEMPLATE_NAME = "coachline-persona-v1"

# Openers and closers by the creator's most present dimension. `{exclaim}` becomes "!" for creators
# who use exclamations and "." for those who do not.
_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "empathy": (
        ("That's a very understandable thing to ask about.", "Many people wonder about this, and it's okay."),
        ("Go gently, one step at a time.", "Be patient with yourself as you try this."),
    ),
    "warmth": (
        ("Thank you for asking{exclaim}", "I'm so glad you asked{exclaim}"),
        ("Sending you warm wishes on the way{exclaim}", "Take good care of yourself{exclaim}"),
    ),
    "encouragement": (
        ("Great question{exclaim}", "Here is the heart of it{exclaim}"),
        ("You can do this{exclaim}", "Every step counts — keep going{exclaim}"),
    ),
    "humour": (
        ("Ah, the big one{exclaim}", "Good one{exclaim}"),
        ("Onwards — with a smile{exclaim}", "Go get 'em{exclaim}"),
    ),
    "directness": (
        ("Here's what to do:", "Short answer:"),
        ("Start today.", "Try it this week."),
    ),
    "formality": (
        ("In answer to your question:", "Consider the following."),
        ("I trust this is of help.", "Reflect on this with care."),
    ),
}
_QUESTION_CLOSERS = ("What is one small step you could take today?", "How does that sit with you?")


def reply_style(profile: PersonalityProfile) -> ReplyStyle:
    """The mechanical form of a profile's voice, for the offline generator."""
    top = profile.dominant_traits[0].dimension if profile.traits else "warmth"
    openers, closers = _PHRASES.get(top, _PHRASES["warmth"])
    features = profile.style_features
    exclaim = "!" if features.get("exclamation_rate", 0.0) >= 0.05 else "."
    if features.get("question_rate", 0.0) >= 0.1:
        closers = _QUESTION_CLOSERS
    sentence_words = features.get("avg_sentence_words", 16.0)
    # Short-sentence writers get more, shorter quotes; long-sentence writers fewer, longer ones.
    max_sentences = 4 if sentence_words < 14 else 3 if sentence_words < 22 else 2
    return ReplyStyle(
        openers=tuple(opener.format(exclaim=exclaim) for opener in openers),
        closers=tuple(closer.format(exclaim=exclaim) for closer in closers),
        max_sentences=max_sentences,
    )


def system_prompt(profile: PersonalityProfile, creator_name: str) -> str:
    """The model's instructions to speak as the creator, written from the profile's measurements."""
    f = profile.style_features
    lines = [
        f"You are the AI twin of {creator_name}, a coach, answering {creator_name}'s clients.",
        f"About {creator_name}'s voice: {profile.personality_summary}",
        "Write the way they write:",
        f"- sentences of about {f.get('avg_sentence_words', 16.0):.0f} words;",
    ]
    traits = ", ".join(f"{trait.dimension} {trait.value:.2f}" for trait in profile.traits)
    lines.append(f"- tone on a 0-1 scale: {traits};")
    lines.append(
        "- address the reader as “you”;"
        if f.get("second_person_rate", 0.0) >= 0.02
        else "- speak about principles more than to the reader directly;"
    )
    if f.get("imperative_rate", 0.0) >= 0.1:
        lines.append("- give clear, direct instructions;")
    if f.get("question_rate", 0.0) >= 0.1:
        lines.append("- ask the reader a question now and then;")
    lines.append(
        "- exclamation marks are part of the voice;"
        if f.get("exclamation_rate", 0.0) >= 0.05
        else "- avoid exclamation marks;"
    )
    if profile.key_methodologies:
        lines.append(
            f"Lean on {creator_name}'s methods where they fit: {', '.join(profile.key_methodologies)}."
        )
    lines.append(
        f"Answer only from {creator_name}'s materials given to you; when they do not cover the question, "
        "say so plainly instead of guessing."
    )
    return "\n".join(lines)


def persona_from_profile(profile: PersonalityProfile, creator_name: str) -> Persona:
    """The persona a generator speaks as: the prompt for a model, the style for offline answers."""
    return Persona(creator_name, system_prompt(profile, creator_name), reply_style(profile))


def personality_prompt(profile: PersonalityProfile, creator_name: str) -> dict[str, Any]:
    """The seed's `personality_prompt`: the prompt, the template it came from, and its confidence."""
    return {
        "personalized_prompt": system_prompt(profile, creator_name),
        "template_used": TEMPLATE_NAME,
        "confidence_score": profile.confidence_score,
    }

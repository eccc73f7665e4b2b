"""A profile turned into a voice: the system prompt a model gets, and the reply style offline answers use."""

from __future__ import annotations

from typing import Any

from coaching.generation import Persona, ReplyStyle
from coaching.personality.features import IMPERATIVE_VERBS, words_of
from coaching.personality.profile import PersonalityProfile

TEMPLATE_NAME = "coachline-persona-v1"
# Below this share of imperative sentences a writer seldom commands: their answers do not end on a
# command ("Keep your hand firmly upon the helm of thought." made Allen's reply read as the booklet's
# to the consistency check), only on what "we" or "you" can do.
RARE_IMPERATIVES = 0.05


def reply_style(profile: PersonalityProfile) -> ReplyStyle:
    """The mechanical form of a profile's voice, for the offline generator.

    Openers, closers and transitions are the creator's own (`profile.phrasebook`); a profile stored
    before phrasebooks existed has none, and its answers are the plain quotes until it is re-analysed.
    """
    book = profile.phrasebook
    sentence_words = profile.style_features.get("avg_sentence_words", 16.0)
    # Short-sentence writers get more, shorter quotes; long-sentence writers fewer, longer ones.
    max_sentences = 4 if sentence_words < 14 else 3 if sentence_words < 22 else 2
    closers = book.closers or book.encouragements
    if profile.style_features.get("imperative_rate", 1.0) < RARE_IMPERATIVES:
        closers = tuple(phrase for phrase in closers if not _commands(phrase))
    return ReplyStyle(
        openers=book.openers or book.reader_address,
        closers=closers,
        max_sentences=max_sentences,
        transitions=book.transitions,
    )


def _commands(phrase: str) -> bool:
    """Whether a phrase is a command: it starts with an instruction, perhaps after "now"."""
    words = words_of(phrase)
    words = words[1:] if words[:1] == ["now"] else words
    return bool(words) and words[0] in IMPERATIVE_VERBS


def system_prompt(profile: PersonalityProfile, creator_name: str) -> str:
    """The model's instructions to speak as the creator, written from the profile's measurements."""
    f = profile.style_features
    lines = [
        f"You are the AI twin of {creator_name}, a coach, answering {creator_name}'s clients.",
        f"About {creator_name}'s voice: {profile.personality_summary}",
        "Write the way they write:",
        f"- sentences of {_sentence_lengths(profile)} words;",
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
    means = profile.signature.means if profile.signature is not None else {}
    if means.get("pronoun:thou", 0.0) >= 0.001:
        lines.append("- they address the reader in the old way too (thou, thee, thy);")
    if means.get("punct:semicolon", 0.0) >= 0.2:
        lines.append("- they join clauses with semicolons;")
    book = profile.phrasebook
    examples = [*book.reader_address[:2], *book.closers[:1]]
    if examples:
        lines.append("- sentences of theirs, for the tone (do not repeat them): " + " / ".join(examples))
    if book.phrasings:
        lines.append("- phrases they often use: " + ", ".join(f"“{p}”" for p in book.phrasings))
    if profile.key_methodologies:
        lines.append(
            f"Lean on {creator_name}'s methods where they fit: {', '.join(profile.key_methodologies)}."
        )
    lines.append(
        f"Answer only from {creator_name}'s materials given to you; when they do not cover the question, "
        "say so plainly instead of guessing."
    )
    return "\n".join(lines)


def _sentence_lengths(profile: PersonalityProfile) -> str:
    """'about 18', or with a signature the middle half of their sentence lengths: '11 to 27'."""
    means = profile.signature.means if profile.signature is not None else {}
    if "sentence:p25" in means and "sentence:p75" in means:
        return f"{means['sentence:p25']:.0f} to {means['sentence:p75']:.0f} (the middle half)"
    return f"about {profile.style_features.get('avg_sentence_words', 16.0):.0f}"


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

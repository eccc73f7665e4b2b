"""Four writers the project writes itself, with clearly different styles, for the voice tests.

Each writer is a set of sentence templates filled from small vocabularies by a seeded random
generator, so the texts are long enough for a profile (a few thousand words), identical on every run,
and need nothing from `../shared/fixtures`:

- `sage`: an archaic moralist: long sentences with semicolons, "thou/thee/thy", "upon", "whilst";
- `coach`: a fitness coach: short sentences, "you", contractions, exclamations, numbers;
- `scholar`: an academic: third person, long words, parentheses, hedges, percentages;
- `storyteller`: a memoirist: "I", past tense, dashes, other people's words in quotation marks.
"""

from __future__ import annotations

import random
from functools import cache

_NOUNS = ["thought", "heart", "mind", "purpose", "soul", "will", "character", "peace", "labour", "spirit"]
_WHEN = ["in the hour of trial", "upon the long road", "when the night is darkest", "in the quiet of evening"]
_FOODS = ["oats", "berries", "eggs", "lentils", "spinach", "salmon", "yogurt", "apples"]
_MEALS = ["breakfast", "lunch", "dinner", "your snack"]
_TOPICS = [
    "sleep duration",
    "dietary fibre",
    "physical activity",
    "social support",
    "habitual caffeine intake",
]
_OUTCOMES = [
    "cardiometabolic risk",
    "cognitive performance",
    "glycaemic variability",
    "self-reported wellbeing",
]
_PLACES = ["market", "river", "old bakery", "harbour", "orchard"]
_PEOPLE = ["my grandmother", "my father", "old Tomas", "my aunt"]

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "sage": (
        "Thou shalt find, {when}, that {a} is but the servant of {b}; and he who keeps his {b} pure "
        "keeps his {a} also.",
        "Keep thy {a} as a garden is kept, for out of it spring the fruits of thy {b}.",
        "Whilst the {a} of men wanders, the wise man returns unto his {b}, and there he finds rest.",
        "Let thy {a} be still, and thy {b} shall grow strong upon the path that thou hast chosen.",
        "It is not the {a} that makes the man; it is the {b} which he cherishes in secret.",
        "Again, the {a} that is nourished in silence becomes the {b} that is shown to the world.",
        "Moreover, no {a} is lost; every {a} returns, in its season, as {b} or as sorrow.",
        "Thou art the maker of thy {a}, and thy {b} is the house which thou buildest.",
        "Be patient with thy {a}, for the {b} of a lifetime is not woven in a day.",
        "Thou canst rise, for the strength of thy {a} is greater than thou knowest.",
    ),
    "coach": (
        "You've got this!",
        "Drink {n} glasses of water today.",
        "Don't skip {meal}.",
        "Try a {n}-minute walk after {meal}.",
        "Your body loves {food}!",
        "Small steps add up.",
        "Ready? Let's go!",
        "Pick {food} instead of chips.",
        "You can do {n} squats right now!",
        "Remember, progress beats perfection.",
        "How do you feel after {meal}?",
        "Keep your water bottle close.",
        "You'll sleep better tonight, I promise!",
        "Add {food} to {meal}.",
    ),
    "scholar": (
        "The available evidence indicates that {topic} is associated with {outcome} (see Section {n}).",
        "However, the relationship between {topic} and {outcome} remains incompletely characterised.",
        "Participants who reported greater {topic} demonstrated a {n} percent reduction in {outcome}.",
        "Consequently, investigators have proposed that {topic} may moderate {outcome} through "
        "physiological mechanisms.",
        "These findings, although preliminary, warrant systematic investigation in representative "
        "populations.",
        "Methodological heterogeneity (including differences in measurement) complicates the "
        "interpretation of {outcome}.",
        "It should be noted that observational designs cannot establish causality between {topic} and "
        "{outcome}.",
        "Subsequent analyses, adjusted for {n} covariates, attenuated the association considerably.",
    ),
    "storyteller": (
        "I remember the morning {person} took me to the {place} — the air smelled of bread.",
        "{Person} said, “Never rush the dough, child.”",
        "We walked for hours and I didn't say a word.",
        "I was {n} years old, and I thought I knew everything.",
        "Later — much later — I understood what {person} had meant.",
        "I sat by the {place} and watched the boats come in.",
        "My hands were cold, but I didn't care.",
        "“Look at the light,” {person} whispered, and I looked.",
        "I still go back to the {place} when I can.",
    ),
}
WRITERS = tuple(_TEMPLATES)


@cache
def writer_text(writer: str, words: int = 4000, seed: int = 7) -> str:
    """About `words` words in `writer`'s style, in paragraphs of three to six sentences."""
    rng = random.Random(f"{writer}-{seed}")
    paragraphs: list[str] = []
    current: list[str] = []
    written = 0
    while written < words:
        a, b = rng.sample(_NOUNS, 2)
        person = rng.choice(_PEOPLE)
        sentence = rng.choice(_TEMPLATES[writer]).format(
            a=a,
            b=b,
            when=rng.choice(_WHEN),
            n=rng.randint(2, 40),
            food=rng.choice(_FOODS),
            meal=rng.choice(_MEALS),
            topic=rng.choice(_TOPICS),
            outcome=rng.choice(_OUTCOMES),
            place=rng.choice(_PLACES),
            person=person,
            Person=person[0].upper() + person[1:],
        )
        current.append(sentence)
        written += len(sentence.split())
        if len(current) >= rng.randint(3, 6):
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)

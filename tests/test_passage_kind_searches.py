"""The passage classifier's shortcuts (`_has_sentence`, `_toc_entries`) answer exactly as the full regex
searches they replace, which were quadratic in a long line."""

from __future__ import annotations

import random

from coaching.documents import passage_kinds
from tests.support.shared_fixtures import SHARED_FIXTURES

ALPHABET = "ab c,.;!?\nXY1'…  "


def _texts() -> list[str]:
    rng = random.Random(5)
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 80))) for _ in range(5000)]
    texts += [
        "word " * 300 + "end.",  # a long line with one sentence end, far from its start
        "Contents … 3\nGoals ... 12\nHabits …… 40",
        "X" * 250 + "ab.",
    ]
    documents = SHARED_FIXTURES / "docs"
    if documents.exists():
        for path in sorted(documents.glob("*.txt")):
            texts += path.read_text(encoding="utf-8", errors="ignore").split("\n\n")
    return texts


def test_the_shortcuts_agree_with_the_full_searches() -> None:
    for text in _texts():
        assert passage_kinds._has_sentence(text) == bool(passage_kinds._SENTENCE.search(text)), text
        assert passage_kinds._toc_entries(text) == len(passage_kinds._TOC_ENTRY.findall(text)), text

"""BM25 and reciprocal rank fusion, the lexical half of search."""

from __future__ import annotations

from coaching.lexical import LexicalIndex, reciprocal_rank_fusion, terms


def test_terms_drop_stop_words_and_case() -> None:
    assert terms("What is THE Glycemic index?") == ["glycemic", "index"]


def test_bm25_prefers_the_chunk_with_the_rare_word() -> None:
    index = LexicalIndex(
        [
            ("common", "sleep well and sleep long, sleep is good for you"),
            ("rare", "melatonin is a hormone that helps sleep"),
            ("other", "running every morning"),
        ]
    )

    ranked = [chunk_id for chunk_id, _ in index.search("does melatonin help sleep", 3)]

    assert ranked[0] == "rare"
    assert "other" not in ranked  # shares no word with the query


def test_bm25_with_no_matching_word_returns_nothing() -> None:
    assert LexicalIndex([("a", "apples and pears")]).search("quantum physics", 5) == []


def test_fusion_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion(["x", "y", "z"], ["y", "w"])

    assert fused[0] == "y"  # second and first beats first and absent
    assert set(fused) == {"x", "y", "z", "w"}

"""The lexical half of search: BM25-style ranking of exact words, stored in the database beside the data.

Exact words matter for names, numbers and rare terms. Measured on the SQuAD v2 sample (293 answerable
questions, 87 paragraphs, all-MiniLM-L6-v2): vectors alone recall@1 0.703 / recall@5 0.911; BM25
alone 0.795 / 0.959; both fused by reciprocal rank better than either — so search fuses both
(`python -m bench` measures it again).

The index is a table of chunk terms (migration `i18_lexical_index`): SQLite ranks it with FTS5's
`bm25()`, PostgreSQL with a GIN-indexed `tsvector` and `ts_rank_cd`. A document's rows are written
in the transaction that makes it ready and deleted with it, so nothing is rebuilt, every instance
sees the same index, and no process holds the corpus in memory.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from sqlalchemy import TextClause, bindparam, column, table, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
K1, B = 1.2, 0.75  # BM25's usual constants (FTS5 uses the same)
RRF_K = 60  # the usual constant: ranks beyond the first few add little
# Chunks (of every creator: FTS5's vocabulary is shared) the candidate words may hold, summed: FTS5
# ranks every row that matches, so this bounds a query's cost. At 10k chunks under load, lexical
# search p50 was 26 ms with every word, 16 ms with 2,500 rows, 9 ms with 1,000 (`bench/scale.py`).
MATCH_BUDGET = 1_000
CANDIDATES_AT_LEAST = 100  # rows ranked in Python for a search of k (5 k, at least this many)


def terms(text: str) -> list[str]:
    """Lower-case word tokens without stop words."""
    return [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]


def owner_token(creator_id: str) -> str:
    """The creator as one index token (hex), in the FTS5 table's weight-0 owner column. Searches no
    longer match on it (its posting list is every chunk of the creator): they filter `creator_id`."""
    return "o" + hashlib.sha256(creator_id.encode()).hexdigest()[:24]


class ChunkTerms:
    """The stored lexical index: one row of words per searchable chunk, ranked by the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # PostgreSQL's IDF needs the creator's row count: counted at most once a minute per creator
        # (a stale count barely moves a logarithm), never per query.
        self._totals: dict[str, tuple[float, int]] = {}
        self._statistics_cache: dict[str, tuple[float, int, float]] = {}
        self._frequencies: dict[str, tuple[float, int]] = {}
        self._recounting: dict[str, asyncio.Task[None]] = {}

    async def add(
        self, session: AsyncSession, creator_id: str, document_id: str, chunks: Sequence[tuple[str, str]]
    ) -> None:
        """Index `(chunk id, text)` pairs of one document inside the caller's transaction."""
        if not chunks:
            return
        owner = owner_token(creator_id)
        await session.execute(
            _INSERT,
            [
                {
                    "chunk_id": chunk_id,
                    "creator_id": creator_id,
                    "document_id": document_id,
                    "owner": owner,
                    "terms": " ".join(words),
                    "length": len(words),
                }
                for chunk_id, words in ((chunk_id, terms(text)) for chunk_id, text in chunks)
            ],
        )

    async def delete_document(self, session: AsyncSession, document_id: str) -> None:
        """Forget one document's rows inside the caller's transaction (the index follows)."""
        await session.execute(_DELETE, {"document_id": document_id})

    async def search(self, creator_id: str, query: str, k: int) -> list[tuple[str, float]]:
        """The creator's `k` best (chunk id, score) pairs for `query`, best first (higher is better).

        A chunk matches when it shares any word with the query; rows of documents not (or no longer)
        ready are the caller's to filter.
        """
        words = sorted(set(terms(query)))
        if not words or k <= 0:
            return []
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                result = await session.execute(
                    _postgres_search(len(words)),
                    {
                        "creator_id": creator_id,
                        "query": " | ".join(words),
                        "total": await self._total(session, creator_id),
                        "limit": k,
                        **{f"w{number}": word for number, word in enumerate(words)},
                    },
                )
                return [(str(chunk_id), float(score)) for chunk_id, score in result]
            return await self._search_sqlite(session, creator_id, words, k)

    async def _search_sqlite(
        self, session: AsyncSession, creator_id: str, words: list[str], k: int
    ) -> list[tuple[str, float]]:
        """FTS5's `bm25()` picks the candidates; BM25 with its usual IDF, log(1 + …), orders them.

        FTS5's IDF, log((N - n + 0.5) / (n + 0.5)), drops words in half the chunks to nothing; the
        usual one keeps them a little weight, and recall on the SQuAD sample was lower without it.
        A wide candidate list (5 k, at least 100) makes the reordering all but exact.
        """
        found_in = await self._document_frequencies(session, words)
        selective = selective_words(words, found_in)
        if not selective:
            return []  # no chunk holds any of the words
        # The creator is filtered on the joined row, not by its owner token in MATCH: that token's
        # posting list is every chunk of the creator, which FTS5 would walk on every query.
        match = " OR ".join(f'"{word}"' for word in selective)
        limit = max(5 * k, CANDIDATES_AT_LEAST)
        # The best rows of the whole index first, each row read only once it is among them: joining
        # every match to its row before ranking (to filter the creator) was most of the query's cost,
        # 5.9 of 6.1 ms at 109k chunks. When another creator's rows took places among the best, the
        # creator's own best may lie further down: only then is the creator filtered as it ranks.
        best = list(await session.execute(_TOP_SQLITE, {"match": match, "limit": limit}))
        candidates = [
            (chunk_id, stored, length) for chunk_id, stored, length, owner in best if owner == creator_id
        ]
        if len(best) == limit and len(candidates) < limit:
            candidates = list(
                await session.execute(
                    _SEARCH_SQLITE, {"match": match, "creator_id": creator_id, "limit": limit}
                )
            )
        if not candidates:
            return []
        total, average = await self._statistics(session, creator_id)
        query_words = set(words)
        scored: list[tuple[str, float]] = []
        for chunk_id, stored, length in candidates:
            counts = Counter(word for word in str(stored).split() if word in query_words)
            norm = 1 - B + B * int(length) / (average or 1)
            score = 0.0
            for word, count in counts.items():
                found = found_in.get(word, 1)
                idf = math.log(1 + (max(total, found) - found + 0.5) / (found + 0.5))
                score += idf * count * (K1 + 1) / (count + K1 * norm)
            scored.append((str(chunk_id), score))
        scored.sort(key=lambda item: item[1], reverse=True)
        return scored[:k]

    async def _document_frequencies(self, session: AsyncSession, words: list[str]) -> dict[str, int]:
        """How many chunks hold each word; remembered for a minute (a slightly stale count barely
        moves a logarithm, and a question's words are mostly ones asked before)."""
        now = time.monotonic()
        known = {
            word: entry for word in words if (entry := self._frequencies.get(word)) and now - entry[0] < 60
        }
        unknown = [word for word in words if word not in known]
        if unknown:
            for word, count in await session.execute(_DOCUMENT_FREQUENCIES, {"words": unknown}):
                known[str(word)] = (now, int(count))
                self._frequencies[str(word)] = (now, int(count))
            if len(self._frequencies) > 50_000:  # bounded: forget everything now and then
                self._frequencies.clear()
        return {word: entry[1] for word, entry in known.items()}

    async def _statistics(self, session: AsyncSession, creator_id: str) -> tuple[int, float]:
        """(chunks, average words a chunk) of the creator: counted on the first search, then recounted
        at most once a minute in the background (counting reads every row of the creator: at 100k
        chunks no search should wait for it, and a minute-old average barely moves a score)."""
        cached = self._statistics_cache.get(creator_id)
        if cached is None:
            total, average = await _count_terms(session, creator_id)
            self._statistics_cache[creator_id] = (time.monotonic(), total, average)
            return total, average
        if time.monotonic() - cached[0] >= 60 and creator_id not in self._recounting:
            self._recounting[creator_id] = asyncio.create_task(self._recount(creator_id))
        return cached[1], cached[2]

    async def _recount(self, creator_id: str) -> None:
        try:
            async with self._sessions() as session:
                total, average = await _count_terms(session, creator_id)
            self._statistics_cache[creator_id] = (time.monotonic(), total, average)
        except Exception:  # the stale figures serve on; the next search after a minute tries again
            log.exception("recounting the lexical index of creator %s failed", creator_id)
        finally:
            self._recounting.pop(creator_id, None)

    async def _total(self, session: AsyncSession, creator_id: str) -> int:
        now = time.monotonic()
        cached = self._totals.get(creator_id)
        if cached is not None and now - cached[0] < 60:
            return cached[1]
        total = int(
            await session.scalar(
                text("SELECT count(*) FROM knowledge_chunk_terms WHERE creator_id = :c"), {"c": creator_id}
            )
            or 0
        )
        self._totals[creator_id] = (now, total)
        return total


async def _count_terms(session: AsyncSession, creator_id: str) -> tuple[int, float]:
    """The creator's chunks, counted from an index alone, and their average length over a sample.

    Averaging every row read the whole table (the words are stored in it): 40 ms at 110k chunks, on
    the one connection every statement of the instance shares, once a minute. The count from the
    (creator, chunk id) index and the average of `LENGTH_SAMPLE` rows in that index's order, which
    is the documents' random ids' (93.58 against the exact 93.24 words there), cost 5 ms; up to
    `LENGTH_SAMPLE` chunks the average is exact.
    """
    row = (await session.execute(_COUNT_TERMS, {"c": creator_id, "sample": LENGTH_SAMPLE})).one()
    return int(row[0] or 0), float(row[1] or 0.0)


LENGTH_SAMPLE = 2_000
_COUNT_TERMS = text(
    "SELECT (SELECT count(*) FROM knowledge_chunk_terms WHERE creator_id = :c), "
    "(SELECT avg(length) FROM (SELECT length FROM knowledge_chunk_terms WHERE creator_id = :c LIMIT :sample))"
)
# The table as far as other queries need it (which documents have rows).
CHUNK_TERMS = table("knowledge_chunk_terms", column("document_id"))

_INSERT = text(
    "INSERT INTO knowledge_chunk_terms (chunk_id, creator_id, document_id, owner, terms, length) "
    "VALUES (:chunk_id, :creator_id, :document_id, :owner, :terms, :length)"
)
_DOCUMENT_FREQUENCIES = text(
    "SELECT term, doc FROM knowledge_chunk_terms_vocab WHERE term IN :words"
).bindparams(bindparam("words", expanding=True))
_DELETE = text("DELETE FROM knowledge_chunk_terms WHERE document_id = :document_id")
# bm25() is lower-is-better; the owner column is weighted 0.
_TOP_SQLITE = text(
    "SELECT t.chunk_id, t.terms, t.length, t.creator_id FROM ("
    "SELECT rowid AS id, bm25(knowledge_chunk_terms_fts, 0.0, 1.0) AS score FROM knowledge_chunk_terms_fts "
    "WHERE knowledge_chunk_terms_fts MATCH :match ORDER BY score LIMIT :limit"
    ") AS top JOIN knowledge_chunk_terms t ON t.id = top.id ORDER BY top.score"
)
_SEARCH_SQLITE = text(
    "SELECT t.chunk_id, t.terms, t.length "
    "FROM knowledge_chunk_terms_fts JOIN knowledge_chunk_terms t ON t.id = knowledge_chunk_terms_fts.rowid "
    "WHERE knowledge_chunk_terms_fts MATCH :match AND t.creator_id = :creator_id "
    "ORDER BY bm25(knowledge_chunk_terms_fts, 0.0, 1.0) "
    "LIMIT :limit"
)


@functools.lru_cache(maxsize=64)
def _postgres_search(words: int) -> TextClause:
    """BM25's shape on PostgreSQL: per query word, its IDF among the creator's chunks times `ts_rank`
    (the word's frequency, normalised by 1 + log(length)); `ts_rank` alone has no IDF, so a common
    word repeated would outrank the rare word that matters."""
    counts = ", ".join(
        f"count(*) FILTER (WHERE tsv @@ to_tsquery('simple', :w{n})) OVER () AS n{n}" for n in range(words)
    )
    score = " + ".join(
        f"ln(1 + (:total - n{n} + 0.5) / (n{n} + 0.5)) * ts_rank(tsv, to_tsquery('simple', :w{n}), 1)"
        for n in range(words)
    )
    return text(
        f"SELECT chunk_id, {score} AS score FROM ("
        f"SELECT chunk_id, tsv, {counts} FROM knowledge_chunk_terms "
        "WHERE creator_id = :creator_id AND tsv @@ to_tsquery('simple', :query)"
        ") AS matched ORDER BY score DESC LIMIT :limit"
    )


def selective_words(words: Sequence[str], found_in: dict[str, int]) -> list[str]:
    """The query words that pick the candidates: the rarest first, while the chunks holding them stay
    within `MATCH_BUDGET` (always the rarest one), so the rows ranked per query stay bounded however
    large the corpus grows.

    A word in many chunks weighs little in BM25 (its IDF is near 0) yet makes FTS5 rank every chunk
    holding it; it still counts in the score of the candidates the rarer words found.
    """
    present = sorted((found_in.get(word, 0), word) for word in words if found_in.get(word, 0) > 0)
    chosen: list[str] = []
    rows = 0
    for found, word in present:
        if chosen and rows + found > MATCH_BUDGET:
            break
        chosen.append(word)
        rows += found
    return chosen


def reciprocal_rank_fusion(*rankings: Sequence[str]) -> list[str]:
    """Ids ordered by the sum of 1/(RRF_K + rank) over the rankings they appear in."""
    fused: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking):
            fused[chunk_id] += 1 / (RRF_K + rank)
    return sorted(fused, key=lambda chunk_id: fused[chunk_id], reverse=True)

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

import functools
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
RRF_K = 60  # the usual constant: ranks beyond the first few add little


def terms(text: str) -> list[str]:
    """Lower-case word tokens without stop words."""
    return [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]


def owner_token(creator_id: str) -> str:
    """The creator as one index token (hex), so a search only intersects its own creator's rows."""
    return "o" + hashlib.sha256(creator_id.encode()).hexdigest()[:24]


class ChunkTerms:
    """The stored lexical index: one row of words per searchable chunk, ranked by the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # PostgreSQL's IDF needs the creator's row count: counted at most once a minute per creator
        # (a stale count barely moves a logarithm), never per query.
        self._totals: dict[str, tuple[float, int]] = {}

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
                    "terms": " ".join(terms(text)),
                }
                for chunk_id, text in chunks
            ],
        )

    async def delete_document(self, session: AsyncSession, document_id: str) -> None:
        """Forget one document's rows inside the caller's transaction (the index follows)."""
        await session.execute(_DELETE, {"document_id": document_id})

    async def indexed_documents(self, session: AsyncSession, document_ids: Sequence[str]) -> set[str]:
        """Which of these documents have rows in the index."""
        if not document_ids:
            return set()
        rows = await session.execute(
            text(
                "SELECT DISTINCT document_id FROM knowledge_chunk_terms WHERE document_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": list(document_ids)},
        )
        return {row[0] for row in rows}

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
            else:
                match = (
                    f'owner:"{owner_token(creator_id)}" AND (' + " OR ".join(f'"{w}"' for w in words) + ")"
                )
                result = await session.execute(_SEARCH_SQLITE, {"match": match, "limit": k})
            return [(str(chunk_id), float(score)) for chunk_id, score in result]

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


_INSERT = text(
    "INSERT INTO knowledge_chunk_terms (chunk_id, creator_id, document_id, owner, terms) "
    "VALUES (:chunk_id, :creator_id, :document_id, :owner, :terms)"
)
_DELETE = text("DELETE FROM knowledge_chunk_terms WHERE document_id = :document_id")
# bm25() is lower-is-better with the owner column weighted 0; negated so both dialects rank high-first.
_SEARCH_SQLITE = text(
    "SELECT t.chunk_id, -bm25(knowledge_chunk_terms_fts, 0.0, 1.0) AS score "
    "FROM knowledge_chunk_terms_fts JOIN knowledge_chunk_terms t ON t.id = knowledge_chunk_terms_fts.rowid "
    "WHERE knowledge_chunk_terms_fts MATCH :match ORDER BY bm25(knowledge_chunk_terms_fts, 0.0, 1.0) "
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


def reciprocal_rank_fusion(*rankings: Sequence[str]) -> list[str]:
    """Ids ordered by the sum of 1/(RRF_K + rank) over the rankings they appear in."""
    fused: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking):
            fused[chunk_id] += 1 / (RRF_K + rank)
    return sorted(fused, key=lambda chunk_id: fused[chunk_id], reverse=True)

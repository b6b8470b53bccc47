"""The two search channels of a Milvus-backed index, shaped like the FAISS path's ones so
`HybridRetriever` takes them unchanged: dense search over the chunk vectors, and jauap's
own ru/kk-aware BM25 stored in Milvus as sparse vectors.

BM25 as sparse vectors: each chunk's vector holds, per term, exactly the Lucene BM25
weight (k1=1.5, b=.75) that `BM25Channel` computes for it (idf x saturated tf, taken from
the bm25s matrix); a query is the counts of its tokens, analysed the same way. Their inner
product is then the FAISS path's BM25 score. Term ids are the terms' CRC32 (feature
hashing, so no vocabulary has to be stored): at 200k distinct terms about five pairs of
terms share an id, which merges their weights.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from rag.index.bm25 import BM25Channel
from rag.index.milvus_client import read_rows
from rag.text.words import default_stemmer, tokenize

_ID_SPACE = 2**32 - 1  # Milvus sparse indices are uint32 below 2**32 - 1


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8")) % _ID_SPACE


def chunk_weights(bm25: BM25Channel) -> list[dict[int, float]]:
    """Per chunk (row), {term id: BM25 weight}: the bm25s term x document matrix read by
    document. Empty dicts for chunks without tokens."""
    out: list[dict[int, float]] = [{} for _ in range(len(bm25))]
    model = getattr(bm25, "_model", None)
    if model is None:
        return out
    sc = model.scores
    data, indices, indptr = sc["data"], sc["indices"], np.asarray(sc["indptr"])
    ids = np.zeros(len(indptr) - 1, dtype=np.int64)
    for term, t in model.vocab_dict.items():
        ids[t] = term_id(term)
    terms = np.repeat(ids, np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    docs, terms, weights = indices[order], terms[order], data[order]
    bounds = np.searchsorted(docs, np.arange(len(out) + 1))
    for row in range(len(out)):
        lo, hi = bounds[row], bounds[row + 1]
        weights_of = out[row]
        for t, w in zip(terms[lo:hi].tolist(), weights[lo:hi].tolist(), strict=True):
            weights_of[t] = weights_of.get(t, 0.0) + w  # two terms sharing an id add up
    return out


class MilvusBM25(BM25Channel):
    """`BM25Channel.search` answered by Milvus's sparse inner-product search."""

    def __init__(
        self, client: Any, collection: str, n_docs: int, stemmers: dict[str, str],
        stopwords: bool, terms: tuple[str, int] = ("", 0),
    ) -> None:
        super().__init__(None, n_docs, stemmers, stopwords)
        self.client = client
        self.collection = collection
        self.terms = terms  # (collection, count) of the stored vocabulary
        self._vocabulary: dict[str, int] | None = None
        self._vocabulary_lock = threading.Lock()

    @property
    def vocabulary(self) -> dict[str, int]:
        """Index term -> term id (its hash), read from Milvus on first use."""
        with self._vocabulary_lock:
            if self._vocabulary is None:
                name, count = self.terms
                rows = read_rows(self.client, name, ["row", "term"], count) if count else []
                self._vocabulary = {r["term"]: term_id(r["term"]) for r in rows}
            return self._vocabulary

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 weights) of the chunks holding term id `term` (a one-term sparse
        search; at most 16384, Milvus's top-k limit, the heaviest first)."""
        found = self.client.search(
            self.collection, data=[{int(term): 1.0}], anns_field="bm25",
            limit=max(1, min(len(self), 16384)), search_params={"metric_type": "IP"},
            output_fields=["row"],
        )[0]
        hits = [(int(h["row"]), float(h["distance"])) for h in found if h["distance"] > 0]
        return (np.array([r for r, _ in hits], dtype=np.int64),
                np.array([w for _, w in hits], dtype=np.float32))

    def query_vector(self, query: str, query_lang: str) -> dict[int, float]:
        """{term id: count} of the query's tokens, analysed as at build time."""
        stem = self.stemmers.get(query_lang, default_stemmer(query_lang))
        counts = Counter(term_id(t) for t in tokenize(query, query_lang, stem, stopwords=self.stopwords))
        return {t: float(n) for t, n in counts.items()}

    def scores(self, query: str, query_lang: str) -> np.ndarray:
        """Every chunk's score (only the top hits are known here: the rest stay 0)."""
        out = np.zeros(len(self), dtype=np.float32)
        for row, score in self.search(query, query_lang, len(self)):
            out[row] = score
        return out

    def search(self, query: str, query_lang: str, k: int) -> list[tuple[int, float]]:
        """Top-`k` (row, score), best first, ties by row; only scores > 0."""
        vec = self.query_vector(query, query_lang)
        if k <= 0 or not vec or not len(self):
            return []
        found = self.client.search(
            self.collection, data=[vec], anns_field="bm25", limit=min(k, 16384),
            search_params={"metric_type": "IP"}, output_fields=["row"],
        )[0]
        hits = [(int(h["row"]), float(h["distance"])) for h in found if h["distance"] > 0]
        return sorted(hits, key=lambda x: (-x[1], x[0]))


class MilvusDense:
    """The `faiss.Index.search` call `HybridRetriever.dense` makes, answered by Milvus."""

    def __init__(self, client: Any, collection: str, ntotal: int, search_params: dict) -> None:
        self.client = client
        self.collection = collection
        self.ntotal = ntotal
        self.search_params = search_params

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), k), padded with row -1."""
        scores = np.zeros((len(queries), k), dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        found = self.client.search(
            self.collection, data=[q.astype(np.float32).tolist() for q in queries],
            anns_field="vector", limit=k, search_params=self.search_params,
            output_fields=["row"],
        )
        for i, hits in enumerate(found):
            for j, h in enumerate(hits[:k]):
                rows[i, j] = int(h["row"])
                scores[i, j] = float(h["distance"])
        return scores, rows


class VectorRows:
    """Chunk and sentence vectors read from Milvus when a search asks for them, instead of
    all at open. Reading a chunk's vector also reads its sentences' (the re-score needs
    both), so one retrieval costs two queries; recent rows are kept (LRU)."""

    def __init__(
        self, client: Any, chunks: str, sentences: str, dim: int,
        sentence_rows: list[list[int]], keep: int = 4096,
    ) -> None:
        self.client, self.names, self.dim = client, {"chunks": chunks, "sentences": sentences}, dim
        self.sentence_rows = sentence_rows
        self.keep = keep
        self.cache: dict[str, OrderedDict[int, np.ndarray]] = {
            "chunks": OrderedDict(), "sentences": OrderedDict()}
        self.lock = threading.Lock()

    def _fetch(self, part: str, rows: list[int]) -> None:
        cache = self.cache[part]
        todo = sorted({r for r in rows if r not in cache})
        for i in range(0, len(todo), 1000):
            ids = todo[i : i + 1000]
            found = self.client.get(self.names[part], ids=ids, output_fields=["row", "vector"])
            for r in found:
                cache[int(r["row"])] = np.asarray(r["vector"], dtype=np.float32)
        for r in rows:  # the rows asked for are the newest: never evicted by this fetch
            if r in cache:
                cache.move_to_end(r)
        while len(cache) > max(self.keep, len(set(rows))):
            cache.popitem(last=False)

    def get(self, part: str, rows: list[int]) -> np.ndarray:
        with self.lock:
            if part == "chunks":
                self._fetch("sentences", [s for r in rows for s in self.sentence_rows[r]])
            self._fetch(part, rows)
            cache = self.cache[part]
            if any(r not in cache for r in rows):
                missing = [r for r in rows if r not in cache][:5]
                raise IndexError(f"rows {missing} are not in the Milvus collection {self.names[part]}")
            if not rows:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.stack([cache[r] for r in rows])


class LazyMatrix:
    """The rows of a (n, dim) float32 matrix that `HybridRetriever` indexes (`m[rows]`,
    `m[row]`), read through `VectorRows`."""

    def __init__(self, source: VectorRows, part: str, n: int) -> None:
        self.source, self.part = source, part
        self.shape = (n, source.dim)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self.source.get(self.part, [int(index)])[0]
        return self.source.get(self.part, [int(i) for i in np.asarray(index).ravel()])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.source.get(self.part, list(range(len(self))))
        return out if dtype is None else out.astype(dtype)

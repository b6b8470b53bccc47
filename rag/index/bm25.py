"""The BM25 channel of hybrid retrieval: one index over passages in mixed languages,
each tokenised with its own language's word analysis (rag.text.words)."""

from __future__ import annotations

import json
import mmap as mmap_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.text.words import default_stemmer, tokenize

if TYPE_CHECKING:
    import bm25s

_META = "jauap_bm25.json"
_ARRAYS = {"data": "data.csc.index.npy", "indices": "indices.csc.index.npy",
           "indptr": "indptr.csc.index.npy"}  # fmt: skip
_VOCAB, _PARAMS = "vocab.index.json", "params.index.json"


class SavedPostings:
    """A saved bm25s index read without bm25s: its `scores` arrays and `vocab_dict`, as
    bm25s.BM25.load sets them. Serving needs nothing else, and importing bm25s (and scipy
    with it) cost a process start 0.10 s on a quiet machine, 0.5-0.7 s at load average 6
    (eval/bench/memory.py imports 0.29 -> 0.19 s at 100k; issue 14)."""

    def __init__(self, directory: Path, mmap: bool) -> None:
        self.params: dict[str, Any] = json.loads((directory / _PARAMS).read_text("utf-8"))
        self.vocab_dict: dict[str, int] = json.loads((directory / _VOCAB).read_text("utf-8"))
        self.scores: dict[str, Any] = {
            key: np.load(directory / name, allow_pickle=False, mmap_mode="r" if mmap else None)
            for key, name in _ARRAYS.items()
        }
        self.scores["num_docs"] = self.params.get("num_docs")

    def save(self, directory: Path, show_progress: bool = False) -> None:
        """Write the same files bm25s.BM25.save writes (its params kept as read)."""
        directory.mkdir(parents=True, exist_ok=True)
        for key, name in _ARRAYS.items():
            np.save(directory / name, self.scores[key], allow_pickle=False)
        (directory / _VOCAB).write_text(json.dumps(self.vocab_dict, ensure_ascii=False), "utf-8")
        (directory / _PARAMS).write_text(json.dumps(self.params, indent=4), "utf-8")


class BM25Channel:
    """Lucene-variant BM25 (k1=1.5, b=0.75) over documents in mixed languages."""

    def __init__(
        self,
        model: bm25s.BM25 | SavedPostings | None,
        n_docs: int,
        stemmers: dict[str, str],
        stopwords: bool = True,
    ) -> None:
        self._model = model
        self._n_docs = n_docs
        self.stemmers = stemmers  # lang -> stemmer name, fixed at build time
        self.stopwords = stopwords
        self._vocab: dict[str, int] = model.vocab_dict if model is not None else {}

    @classmethod
    def build(
        cls,
        texts: list[str],
        langs: list[str],
        stemmers: dict[str, str] | None = None,
        stopwords: bool = True,
    ) -> BM25Channel:
        """Index ``texts``, each tokenized with its own language; ``stemmers`` overrides per lang."""
        if len(texts) != len(langs):
            raise ValueError("texts and langs differ in length")
        chosen = {lang: default_stemmer(lang) for lang in set(langs)} | dict(stemmers or {})
        vocab: dict[str, int] = {}
        ids = [
            [
                vocab.setdefault(t, len(vocab))
                for t in tokenize(text, lang, chosen[lang], stopwords=stopwords)
            ]
            for text, lang in zip(texts, langs, strict=True)
        ]
        if not vocab:
            return cls(None, len(texts), chosen, stopwords)
        import bm25s  # only to build: see SavedPostings

        model = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
        model.index((ids, vocab), create_empty_token=False, show_progress=False)
        return cls(model, len(texts), chosen, stopwords)

    def __len__(self) -> int:
        return self._n_docs

    def query_ids(self, query: str, query_lang: str) -> np.ndarray:
        """Vocabulary ids of the query's tokens (repeats kept, unknown tokens dropped)."""
        stem = self.stemmers.get(query_lang, default_stemmer(query_lang))
        toks = tokenize(query, query_lang, stem, stopwords=self.stopwords)
        return np.array([self._vocab[t] for t in toks if t in self._vocab], dtype=np.int64)

    @property
    def vocabulary(self) -> dict[str, int]:
        """Index term -> term id (read-only use: the cross-language prefix channel)."""
        return self._vocab

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(document rows, BM25 scores) of one term; each document at most once."""
        if self._model is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        sc = self._model.scores
        lo, hi = sc["indptr"][term_id], sc["indptr"][term_id + 1]
        return sc["indices"][lo:hi], sc["data"][lo:hi]

    def scores(self, query: str, query_lang: str) -> np.ndarray:
        """Dense BM25 scores for every document (float32, length ``len(self)``)."""
        out = np.zeros(self._n_docs, dtype=np.float32)
        if self._model is None:
            return out
        qids = self.query_ids(query, query_lang)
        sc = self._model.scores
        data, indices, indptr = sc["data"], sc["indices"], sc["indptr"]
        for t in qids:
            lo, hi = indptr[t], indptr[t + 1]
            out[indices[lo:hi]] += data[lo:hi]  # a term's postings hold each doc once
        return out

    def search(self, query: str, query_lang: str, k: int) -> list[tuple[int, float]]:
        """Top-``k`` (row, score) pairs, best first, ties by row; only scores > 0."""
        if k <= 0 or self._model is None:
            return []
        s = self.scores(query, query_lang)
        nz = np.flatnonzero(s > 0)
        if nz.size > k:  # keep everything tied with the k-th score, then sort
            kth = np.partition(s[nz], nz.size - k)[nz.size - k]
            nz = nz[s[nz] >= kth]
        order = np.lexsort((nz, -s[nz]))[:k]
        return [(int(i), float(s[i])) for i in nz[order]]

    def save(self, directory: Path) -> None:
        """Write the index to ``directory`` (bm25s arrays + vocab, plus a small JSON meta)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(directory, show_progress=False)
        meta = {
            "format": 1,
            "n_docs": self._n_docs,
            "stemmers": self.stemmers,
            "stopwords": self.stopwords,
            "empty": self._model is None,
        }
        (directory / _META).write_text(json.dumps(meta, ensure_ascii=False, indent=1), "utf-8")

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> BM25Channel:
        """Read an index written by ``save``; with ``mmap`` the postings arrays are mapped
        (a query reads its terms' postings only: 68 MB at 100k chunks, ~10x at 1M)."""
        directory = Path(directory)
        meta = json.loads((directory / _META).read_text("utf-8"))
        if meta.get("format") != 1:
            raise ValueError(f"unsupported BM25 index format in {directory}")
        model = None if meta["empty"] else SavedPostings(directory, mmap)
        return cls(model, int(meta["n_docs"]), dict(meta["stemmers"]), bool(meta["stopwords"]))

    def release_pages(self) -> None:
        """Unmap the pages of mapped postings touched so far (the load's checks read them
        all): they stay in the page cache, out of this process's resident memory."""
        for array in (self._model.scores.values() if self._model is not None else ()):
            mapped = getattr(array, "_mmap", None)
            if mapped is not None:
                mapped.madvise(mmap_module.MADV_DONTNEED)

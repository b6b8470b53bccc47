"""Cross-language word-beginning channel: English and Russian questions matched against
Kazakh passages through the loanwords and names the languages share.

Kazakh passages are indexed with each word's first five letters as an extra BM25 term
(`~фотос` for «фотосинтездің»; rag.text.kazakh.suffix_and_prefix5). A Russian question
word's first five letters, or an English word's transliterations' (photosynthesis →
фотосинтесис), are looked up among those terms after folding letters the spellings
disagree on (э/е, ы/и/і, қ/к, з/с, doubled letters...). Alone this channel finds the
Kazakh passage in the top 5 for 44% of the English and 48% of the Russian renderings of
the KazQAD dev questions (eval/devsets); plain BM25 with the question's own stemming
finds 10% and 29%. The retriever runs it for the question languages in
RetrievalSettings.prefix_langs (English only by default; see there why).
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict

import numpy as np

from rag.index.bm25 import BM25Channel
from rag.text.translit import CYRILLIC_WORD, latin_to_cyrillic_variants
from rag.text.words import STOPWORDS

PREFIX = 5  # the length of rag.text.kazakh.suffix_and_prefix5's prefix terms
MIN_WORD = 4  # shorter question words are mostly function words
TARGET = "kk"  # the only language indexed with prefix terms
_KK_PREFIX_TERM = "~"
_FOLD = str.maketrans({
    "э": "е", "ё": "е", "ы": "и", "і": "и", "й": "и", "қ": "к", "ғ": "г", "ң": "н", "ө": "о",
    "ұ": "у", "ү": "у", "ә": "а", "һ": "х", "з": "с", "ъ": None, "ь": None,
})  # fmt: skip
_DOUBLE = re.compile(r"(.)\1+")
_LATIN_WORD = re.compile(r"[a-z]+")
_WORD = re.compile(r"[^\W\d_]+")


def fold(word: str) -> str:
    """A spelling-tolerant key of a word's first PREFIX letters (Cyrillic)."""
    return _DOUBLE.sub(r"\1", word[:PREFIX].translate(_FOLD))


def question_keys(question: str, lang: str) -> list[set[str]]:
    """One set of folded keys per distinct content word of the question (several for an
    English word with more than one plausible Cyrillic spelling)."""
    stop = STOPWORDS.get(lang, frozenset())
    words = [w for w in _WORD.findall(question.lower()) if len(w) >= MIN_WORD and w not in stop]
    out = []
    for word in dict.fromkeys(words):
        if CYRILLIC_WORD.fullmatch(word):
            out.append({fold(word)})
        elif lang == "en" and _LATIN_WORD.fullmatch(word):
            out.append({fold(v) for v in latin_to_cyrillic_variants(word)})
    return out


def fold_prefix_terms(vocabulary: dict[str, int]) -> dict[str, list[int]]:
    """Folded key -> ids of the vocabulary's Kazakh prefix terms (`~фотос`) that fold to it,
    in vocabulary order. The same as ``fold`` per term, but translating and de-doubling
    all words as one string: 0.05 -> 0.03 s over the 100k bench index's 164k terms (43k
    prefix terms; eval/bench/memory.py's index, issue 14)."""
    words, tids = [], []
    for term, tid in vocabulary.items():
        if term.startswith(_KK_PREFIX_TERM):
            word = term[1:]
            if CYRILLIC_WORD.fullmatch(word):
                words.append(word[:PREFIX])
                tids.append(tid)
    if not words:
        return {}
    # one word per line: "." never matches the newline, so no doubling spans two words
    folded = _DOUBLE.sub(r"\1", "\n".join(words).translate(_FOLD)).split("\n")
    keys: dict[str, list[int]] = defaultdict(list)
    for key, tid in zip(folded, tids, strict=True):
        keys[key].append(tid)
    return dict(keys)


class PrefixChannel:
    """Scores Kazakh passages by the question words whose beginnings they share; built
    lazily from the BM25 vocabulary on the first question that needs it."""

    def __init__(self, bm25: BM25Channel) -> None:
        self._bm25 = bm25
        self._keys: dict[str, list[int]] | None = None
        self._lock = threading.Lock()

    def _term_ids(self) -> dict[str, list[int]]:
        with self._lock:
            if self._keys is None:
                self._keys = fold_prefix_terms(self._bm25.vocabulary)
            return self._keys

    def search(self, question: str, lang: str, n: int) -> list[tuple[int, float, float]]:
        """Top-`n` Kazakh rows as (row, score, coverage): score sums, over the question's
        words, the best BM25 weight among the terms the word may be; coverage is the share
        of the question's words the row matched (the fusion weighs by it). Only Kazakh
        passages hold prefix terms, so only they are found. Sparse: the work follows the
        matched postings, not the index size."""
        if lang == TARGET:
            return []
        words = question_keys(question, lang)
        if not words:
            return []
        ids = self._term_ids()
        all_rows, all_weights = [], []
        for keys in words:
            postings = [self._bm25.postings(t) for key in keys for t in ids.get(key, ())]
            if not postings:
                continue
            rows = np.concatenate([r for r, _ in postings])
            weights = np.concatenate([w for _, w in postings])
            order = np.lexsort((-weights, rows))  # by row, its heaviest term first
            rows, weights = rows[order], weights[order]
            first = np.ones(len(rows), dtype=bool)
            first[1:] = rows[1:] != rows[:-1]
            all_rows.append(rows[first])
            all_weights.append(weights[first])
        if not all_rows:
            return []
        found, inverse, matched = np.unique(
            np.concatenate(all_rows), return_inverse=True, return_counts=True
        )
        score = np.bincount(inverse, weights=np.concatenate(all_weights))
        top = np.lexsort((found, -score))[:n]
        return [(int(found[i]), float(score[i]), float(matched[i] / len(words))) for i in top]

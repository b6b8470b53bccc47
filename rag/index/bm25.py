"""BM25 channel of hybrid retrieval, with per-language word-form handling.

Tokens: NFC, lowercase, ``ё``→``е``; words are runs of letters/digits; a number with
decimal or thousands separators stays one token with ``,`` written as ``.``
(``16,5`` → ``16.5``, so Russian/Kazakh and English decimals meet). Mixed-script
words get Latin look-alikes mapped to Cyrillic (``өзенi`` → ``өзені``) and Roman
numerals typed with Cyrillic ``Х``/``І`` become Latin (``ХІХ`` → ``xix``).
Stemming: ru/en Snowball, kk see ``KK_STEMMERS``; other languages are not stemmed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+")
_CYR_RE = re.compile(r"[а-яёәғқңөұүһі]")
_LAT_RE = re.compile(r"[a-z]")
_HOMOGLYPHS = str.maketrans("aceiopxyk", "асеіорхук")
_ROMAN_RE = re.compile(r"[ivxlcdmхі]+")
_ROMAN_TO_LATIN = str.maketrans("хі", "xi")
# soft hyphen, zero-width characters, and stress accents left over after NFC
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff\u0300\u0301]")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Short, hand-written; question words included (they carry no topic).
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "a an the and or but of to in on at by for from with as into about is are was were "
        "be been being it its this that these those there what which who whom whose how when "
        "where why do does did has have had not no than then so such s t"
    ),
    "ru": _words(
        "и в во не что на с со как а то все но да к у же за бы по из о об от до при для "
        "или ли если уже ни он она оно они его ее их это этот эта эти тот та те был была "
        "было были быть есть который которая которые которых каком какой какая какие "
        "кто где когда сколько чем чего там так также тоже"
    ),
    # also bare case endings split off by a hyphen: "АТФ-ның", "2-ден"
    "kk": _words(
        "және мен бен пен да де та те ма ме ба бе па пе ал бірақ немесе не ол бұл осы сол "
        "ғана тек үшін деп деген дегеніміз дегеніңіз еді екен қандай қанша қай қайда қайсы "
        "кім кімдер қашан қалай неге неше нені нелер ненің ның нің дың дің тың тің ға ге қа "
        "ке ды ді ны ні ты ті дан ден тан тен нан нен дағы дегі"
    ),
}

# --- Kazakh stemmers --------------------------------------------------------------

# Slots in reverse morphotactic order (stem + VERB-FORM + DERIV + PLURAL + POSSESSIVE +
# CASE); at most one suffix per slot, longest first. "ыі|н": strip "н" only after ы or і
# (the forms that follow a 3rd-person possessive: кітабын, қаласында, медиафорумына).
_KK_SLOT_TEXT = (
    # case endings, plus past "-ды" and present "-ады" which look alike; known miss:
    # a vowel-final verb's past (зерттеді → зертт) vs its other forms (зерттеген → зертте)
    "ыі|ндағы ыі|ндегі дағы дегі тағы тегі ның нің дың дің тың тің нан нен дан ден тан тен "
    "ыі|нда ыі|нде менен бенен пенен мен бен пен ға ге қа ке ыі|на ыі|не ны ні ды ді ты ті "
    "да де та те ша ше ады еді ыі|н",
    # possessive (1sg/2sg -ым/-ың left out: too many nouns end so, e.g. ғалым)
    "ымыз іміз мыз міз ыңыз іңіз ңыз ңіз сы сі ы і",
    "лар лер дар дер тар тер",  # plural
    "лық лік дық дік тық тік",  # -лық adjectives/abstract nouns: химиялық → химия
    "ған ген қан кен атын етін йтын йтін ып іп у",  # participles, converb, verbal noun
)


def _slot(text: str) -> tuple[tuple[str, str], ...]:
    pairs = [(suf, before) for before, _, suf in (x.rpartition("|") for x in text.split())]
    return tuple(sorted(pairs, key=lambda p: len(p[0]), reverse=True))


_KK_SLOTS = tuple(_slot(t) for t in _KK_SLOT_TEXT)
_KK_DEVOICE = {"б": "п", "г": "к", "ғ": "қ"}  # кітабы → кітап, жүрегі → жүрек
_KK_MIN_STEM = 3  # characters that must remain after stripping


@lru_cache(maxsize=100_000)
def kk_suffix_stem(word: str) -> str:
    """Strip Kazakh inflection (case, possessive, plural, -лық, verb forms), then devoice."""
    for slot in _KK_SLOTS:
        for suf, before in slot:
            keep = len(word) - len(suf)
            if (
                keep >= _KK_MIN_STEM
                and word.endswith(suf)
                and (not before or word[keep - 1] in before)
            ):
                word = word[:keep]
                break
    if len(word) > 3 and word[-1] in _KK_DEVOICE:
        word = word[:-1] + _KK_DEVOICE[word[-1]]
    return word


def _prefix(n: int) -> Callable[[str], tuple[str, ...]]:
    def stem(word: str) -> tuple[str, ...]:
        return (word,) if word[0].isdigit() else (word[:n],)

    return stem


def _suffix_and_prefix5(word: str) -> tuple[str, ...]:
    # Two terms per word: the suffix-stripped stem, and a 5-char prefix in its own
    # namespace ("~") that catches what the stripper misses (Канада/Канададағы).
    # Numbers are kept whole, in both namespaces, so they weigh as much as words.
    if word[0].isdigit():
        return (word, "~" + word)
    return (kk_suffix_stem(word), "~" + word[:5])


@lru_cache(maxsize=1)
def _kazstem_analyzer() -> object:
    from qazmorph import Analyzer  # kazstem's import name

    return Analyzer()  # raises BackendError when the compiled FST bundle is missing


@lru_cache(maxsize=100_000)
def kazstem_lemma(word: str) -> tuple[str, ...]:
    """Lemma from kazstem (first reading); needs its HFST toolchain and FST resources."""
    if word[0].isdigit():
        return (word,)
    doc = _kazstem_analyzer().analyze(word)  # type: ignore[attr-defined]
    for token in doc.tokens:
        if token.analyses and token.analyses[0].lemma:
            return (str(token.analyses[0].lemma).lower(),)
    return (word,)


# name -> function mapping one lowercase word to the index terms it yields.
KK_STEMMERS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "none": lambda word: (word,),
    "prefix4": _prefix(4),
    "prefix5": _prefix(5),
    "prefix6": _prefix(6),
    "suffix": lambda word: (kk_suffix_stem(word),),
    "suffix+prefix5": _suffix_and_prefix5,
    "kazstem": kazstem_lemma,
}
DEFAULT_KK_STEMMER = "suffix+prefix5"
_SNOWBALL = {"ru": "russian", "en": "english"}


@cache
def _snowball(lang: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_SNOWBALL[lang])


def default_stemmer(lang: str) -> str:
    """Stemmer name used for ``lang`` when none is given."""
    if lang == "kk":
        return DEFAULT_KK_STEMMER
    return "snowball" if lang in _SNOWBALL else "none"


def _normalize(tok: str) -> str:
    if tok[0].isdigit():
        return tok.replace(",", ".")
    if _ROMAN_RE.fullmatch(tok) and len(tok) <= 8:
        return tok.translate(_ROMAN_TO_LATIN)
    if _CYR_RE.search(tok) and _LAT_RE.search(tok):
        return tok.translate(_HOMOGLYPHS)
    return tok


@lru_cache(maxsize=300_000)
def _terms(tok: str, lang: str, stemmer: str, stopwords: bool) -> tuple[str, ...]:
    """Index terms of one lowercase token (cached: word frequencies are Zipfian)."""
    tok = _normalize(tok)
    if stopwords and tok in STOPWORDS.get(lang, ()):
        return ()
    if stemmer == "none":
        return (tok,)
    if stemmer == "snowball":
        return (tok,) if tok[0].isdigit() else (_snowball(lang).stemWord(tok),)
    return KK_STEMMERS[stemmer](tok)


def tokenize(
    text: str, lang: str, stemmer: str | None = None, *, stopwords: bool = True
) -> list[str]:
    """Normalised, stopword-filtered, stemmed tokens of ``text`` in language ``lang``.

    ``stemmer``: None = the language default; "none"; "snowball" (ru/en); a ``KK_STEMMERS``
    key (kk). Unknown languages only get lowercasing and normalisation.
    """
    name = stemmer or default_stemmer(lang)
    if name == "snowball" and lang not in _SNOWBALL:
        raise ValueError(f"no Snowball stemmer for language {lang!r}")
    if name not in ("none", "snowball") and (lang != "kk" or name not in KK_STEMMERS):
        raise ValueError(f"unknown stemmer {name!r} for language {lang!r}")
    text = _INVISIBLE_RE.sub("", unicodedata.normalize("NFC", text)).lower().replace("ё", "е")
    return [term for t in _TOKEN_RE.findall(text) for term in _terms(t, lang, name, stopwords)]


# --- index ------------------------------------------------------------------------

_META = "jauap_bm25.json"


class BM25Channel:
    """Lucene-variant BM25 (k1=1.5, b=0.75) over documents in mixed languages."""

    def __init__(
        self,
        model: bm25s.BM25 | None,
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
    def load(cls, directory: Path) -> BM25Channel:
        """Read an index written by ``save``."""
        directory = Path(directory)
        meta = json.loads((directory / _META).read_text("utf-8"))
        if meta.get("format") != 1:
            raise ValueError(f"unsupported BM25 index format in {directory}")
        model = None if meta["empty"] else bm25s.BM25.load(directory, show_progress=False)
        return cls(model, int(meta["n_docs"]), dict(meta["stemmers"]), bool(meta["stopwords"]))

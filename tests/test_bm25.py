"""BM25 channel: tokenization per language, word-form matching, ranking, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.bm25 import BM25Channel
from rag.text.kazakh import kk_suffix_stem
from rag.text.words import DEFAULT_KK_STEMMER, KK_STEMMERS, tokenize

RU_DOCS = [
    "В Алматы открылся медиафорум, на который приехали журналисты из десяти стран.",
    "Погода в Астане: завтра ожидается снег и сильный ветер.",
    "Министерство финансов опубликовало отчёт о бюджете за третий квартал.",
]
KK_DOCS = [
    "Алматыда халықаралық медиафорумы өтті, оған журналистердің көпшілігі қатысты.",
    "Ертең Астанада қар жауып, қатты жел соғады деп күтілуде.",
    "Қаржы министрлігі үшінші тоқсандағы бюджет туралы есеп жариялады.",
]
EN_DOCS = [
    "The media forum in Almaty gathered journalists from ten countries.",
    "Weather in Astana: snow and strong wind are expected tomorrow.",
]


def _same_lang(docs: list[str], lang: str) -> BM25Channel:
    return BM25Channel.build(docs, [lang] * len(docs))


def _rows(hits: list[tuple[int, float]]) -> list[int]:
    return [row for row, _ in hits]


# --- tokenize -------------------------------------------------------------------------


def test_tokenize_basics_lowercase_nfc_numbers_and_stopwords() -> None:
    decomposed = "Мои\u0306"  # "Мой" with a combining breve: NFC makes it one letter
    assert tokenize(decomposed, "xx") == ["мой"]
    assert tokenize("Рост составил 16,5 %, а в 2023 году — 3.2", "ru", "none") == [
        "рост",
        "составил",
        "16.5",
        "2023",
        "году",
        "3.2",
    ]
    assert tokenize("The cat and the dog", "en", "none") == ["cat", "dog"]
    assert tokenize("", "ru") == []
    assert tokenize("и в на", "ru") == []  # only stopwords


def test_tokenize_keeps_kazakh_letters_and_fixes_mixed_script() -> None:
    toks = tokenize("Әбілқайыр ғұмыр қоңыр өлең ұлы үміт һәм іні", "kk", "none")
    assert toks == ["әбілқайыр", "ғұмыр", "қоңыр", "өлең", "ұлы", "үміт", "һәм", "іні"]
    # Latin "i" typed inside a Cyrillic word, Roman numerals typed in Cyrillic
    assert tokenize("өзенi", "kk", "none") == ["өзені"]
    assert tokenize("ХІХ ғасыр", "kk", "none") == tokenize("XIX ғасыр", "kk", "none")


def test_unknown_language_is_only_lowercased() -> None:
    assert tokenize("Journalisten und Medienforum", "de") == ["journalisten", "und", "medienforum"]


def test_russian_and_english_snowball_conflate_forms() -> None:
    assert tokenize("медиафорума", "ru") == tokenize("медиафорум", "ru")
    assert tokenize("журналистов", "ru") == tokenize("журналисты", "ru")
    assert tokenize("journalists", "en") == tokenize("journalist", "en")
    assert tokenize("журналистов", "ru", "none") != tokenize("журналисты", "ru", "none")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("медиафорумына", "медиафорумы"),
        ("журналистер", "журналистердің"),
        ("кітаптарымыздан", "кітабы"),  # plural+possessive+ablative, and п/б voicing
        ("Қазақстандағы", "Қазақстанның"),
        ("химиялық", "химия"),
        ("зерттеген", "зерттеулерінің"),  # participle vs verbal noun + plural + case
        ("болады", "болған"),
    ],
)
def test_kazakh_suffix_stripper_conflates_forms(a: str, b: str) -> None:
    assert kk_suffix_stem(a.lower()) == kk_suffix_stem(b.lower())
    assert tokenize(a, "kk", "suffix") == tokenize(b, "kk", "suffix")
    # the default adds a 5-letter prefix term, which may differ (кітап-/кітаб-)
    assert set(tokenize(a, "kk")) & set(tokenize(b, "kk"))


def test_kazakh_suffix_stripper_keeps_short_stems() -> None:
    assert kk_suffix_stem("ана") == "ана"  # would leave fewer than 3 letters
    assert kk_suffix_stem("қала") == "қала"
    assert kk_suffix_stem("ғалым") == "ғалым"  # -ым (1sg) is not stripped: nouns end so


def test_kk_stemmer_table() -> None:
    assert DEFAULT_KK_STEMMER in KK_STEMMERS
    for fn in KK_STEMMERS.values():
        assert all(isinstance(t, str) and t for t in fn("журналистердің"))
        assert fn("1991") and fn("1991")[0] == "1991"
    assert tokenize("журналистердің", "kk", "prefix5") == ["журна"]
    with pytest.raises(ValueError):
        tokenize("text", "en", "prefix5")


# --- BM25Channel ----------------------------------------------------------------------


def test_russian_word_forms_match() -> None:
    ch = _same_lang(RU_DOCS, "ru")
    assert _rows(ch.search("медиафорума", "ru", 3)) == [0]
    assert _rows(ch.search("журналистов", "ru", 3)) == [0]
    assert _rows(ch.search("отчёта о бюджетах", "ru", 3))[0] == 2


def test_kazakh_word_forms_match() -> None:
    ch = _same_lang(KK_DOCS, "kk")
    assert _rows(ch.search("медиафорумына", "kk", 3)) == [0]
    assert _rows(ch.search("журналистер", "kk", 3)) == [0]
    assert _rows(ch.search("бюджеттің есебі", "kk", 3))[0] == 2


@pytest.mark.parametrize("stemmer", sorted(KK_STEMMERS))
def test_every_kk_stemmer_builds_and_searches(stemmer: str) -> None:
    ch = BM25Channel.build(KK_DOCS, ["kk"] * len(KK_DOCS), {"kk": stemmer})
    assert ch.stemmers["kk"] == stemmer
    assert _rows(ch.search("Астанада қар", "kk", 3))[0] == 1


def test_ranking_prefers_documents_with_query_terms() -> None:
    docs = [
        "Снег и ветер ожидаются завтра.",
        "Бюджет города утвердили депутаты, бюджет вырос.",
        "Депутаты обсудили дороги.",
    ]
    hits = _same_lang(docs, "ru").search("бюджет депутаты", "ru", 10)
    assert _rows(hits) == [1, 2]  # doc 0 has no query term and is left out
    assert hits[0][1] > hits[1][1] > 0
    assert all(score > 0 for _, score in hits)


def test_k_limits_results_and_order_is_best_first() -> None:
    docs = [f"бюджет {'бюджет ' * i} отчёт" for i in range(20)]
    hits = _same_lang(docs, "ru").search("бюджет", "ru", 5)
    assert len(hits) == 5
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert _same_lang(docs, "ru").search("бюджет", "ru", 0) == []


def test_ties_are_broken_by_row_even_at_the_cut() -> None:
    docs = ["бюджет отчёт"] * 10 + ["бюджет"]
    hits = _same_lang(docs, "ru").search("бюджет", "ru", 3)
    assert _rows(hits) == [10, 0, 1]


def test_mixed_language_index_uses_each_documents_language() -> None:
    texts = RU_DOCS + KK_DOCS + EN_DOCS
    langs = ["ru"] * len(RU_DOCS) + ["kk"] * len(KK_DOCS) + ["en"] * len(EN_DOCS)
    ch = BM25Channel.build(texts, langs)
    assert len(ch) == len(texts)
    assert _rows(ch.search("журналистов", "ru", 10)) == [0]
    assert _rows(ch.search("журналистердің", "kk", 10)) == [len(RU_DOCS)]
    assert _rows(ch.search("journalist", "en", 10)) == [len(RU_DOCS) + len(KK_DOCS)]


def test_empty_queries_and_empty_indexes() -> None:
    ch = _same_lang(RU_DOCS, "ru")
    assert ch.search("", "ru", 5) == []
    assert ch.search("   ,.!", "ru", 5) == []
    assert ch.search("и в на", "ru", 5) == []  # stopwords only
    assert ch.search("несуществующееслово", "ru", 5) == []
    for empty in (BM25Channel.build([], []), BM25Channel.build(["", "и"], ["ru", "ru"])):
        assert empty.search("бюджет", "ru", 5) == []
    assert len(BM25Channel.build(["", "и"], ["ru", "ru"])) == 2
    with pytest.raises(ValueError):
        BM25Channel.build(["a", "b"], ["en"])


def test_save_load_roundtrip(tmp_path: Path) -> None:
    texts = RU_DOCS + KK_DOCS + EN_DOCS
    langs = ["ru"] * len(RU_DOCS) + ["kk"] * len(KK_DOCS) + ["en"] * len(EN_DOCS)
    ch = BM25Channel.build(texts, langs, {"kk": "prefix5"})
    ch.save(tmp_path / "bm25")
    loaded = BM25Channel.load(tmp_path / "bm25")
    assert len(loaded) == len(ch)
    assert loaded.stemmers == ch.stemmers
    for query, lang in [
        ("журналистов медиафорума", "ru"),
        ("журналистердің медиафорумына", "kk"),
        ("snow in Astana", "en"),
        ("", "en"),
    ]:
        assert loaded.search(query, lang, 10) == ch.search(query, lang, 10)
    # UTF-8 on disk, never ASCII-escaped
    blob = "".join(p.read_text("utf-8") for p in (tmp_path / "bm25").glob("*.json"))
    assert "журналист" in blob
    assert "\\u04" not in blob


def test_save_load_empty_index(tmp_path: Path) -> None:
    BM25Channel.build(["", ""], ["kk", "kk"]).save(tmp_path)
    loaded = BM25Channel.load(tmp_path)
    assert len(loaded) == 2
    assert loaded.search("қар", "kk", 3) == []

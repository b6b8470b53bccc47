"""The extractive answerer's learned scorer: pure feature functions (no model), the
composition rules on hand-made hits, and, on the real model over the sample corpus, the
failure classes of issue 9 (who-questions, datelines, years only a dateline has) and the
chat page's example questions in all three languages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.answer.assistant import Assistant
from rag.answer.extractive import ExtractiveGenerator, ExtractiveSettings
from rag.answer.features import (
    FEATURES,
    asked_type,
    candidates,
    feature_matrix,
    has_date,
    has_number,
    is_credit,
    is_dateline,
    new_names,
    numbers_nowhere,
)
from rag.answer.scorer import default_model, load_model
from rag.errors import ConfigError
from rag.eval.sets import read_jsonl
from rag.records import Chunk, Document, Hit, Retrieval, Sentence
from rag.text.sentences import split_spans

DATELINE = "2022 жылғы 20 желтоқсан Астана қаласы"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who opened the media forum in Almaty?", "who"),
        ("Кто открыл медиафорум в Алматы?", "who"),
        ("Алматыдағы медиафорумды кім ашты?", "who"),
        ("Орталық Азия медиафорумы қашан өтті?", "when"),
        ("В каком году прошёл форум?", "when"),
        ("How many people came?", "number"),
        ("Сколько участников было?", "number"),
        ("Қатысушылар саны қанша?", "number"),
        ("Где прошёл форум?", "where"),
        ("Форум қайда өтті?", "where"),
        ("What was discussed?", None),
    ],
)
def test_asked_type_in_three_languages(question: str, kind: str | None) -> None:
    assert asked_type(question) == kind


def test_on_is_not_a_number_outside_kazakh() -> None:
    assert not has_number("Он отметил важность сотрудничества.", "ru")
    assert not has_number("One of the speakers noted it.", "en")
    assert has_number("Он екі адам келді.", "kk")  # Kazakh "он" is ten
    assert has_number("Пришли три делегации.", "ru")
    assert has_number("It took 20 minutes.", "en")


def test_dateline_and_dates() -> None:
    assert is_dateline(DATELINE)
    assert is_dateline(" date 2025-09-29")
    assert not is_dateline("Форум прошёл 20 декабря 2022 года в Астане при участии министров.")
    assert has_date("20-21 желтоқсанда елімізде алғаш рет өтті.")
    assert has_date("in 1731")
    assert not has_date("Он отметил важность.")


def test_new_names_skip_names_the_question_has() -> None:
    question = "Who opened the media forum in Almaty?"
    assert new_names("The forum in Almaty was opened by Yerlan Karin.", question) == ["Yerlan", "Karin"]
    assert new_names("The forum in Almaty was lively.", question) == []


def _hit(text: str, vectors: list[np.ndarray], title: str = "Title", lang: str = "kk") -> Hit:
    spans = split_spans(text)
    assert len(spans) == len(vectors)
    doc = Document("d1", "d1.txt", title, lang, text, "h1")
    chunk = Chunk("c1", "d1", 0, 0, len(text), text, tuple(spans))
    sentences = tuple(Sentence(s, e, v) for (s, e), v in zip(spans, vectors, strict=True))
    return Hit(1, 0.5, chunk, doc, dense=0.8, sentences=sentences)


def _unit(seed: int, near: np.ndarray | None = None, w: float = 0.0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=16)
    if near is not None:
        v = w * near + (1 - w) * v / np.linalg.norm(v)
    return v / np.linalg.norm(v)


def _answer(question: str, q: np.ndarray, hit: Hit) -> str:
    """The extractive answer over one hand-made hit, with refusal switched off."""
    return ExtractiveGenerator(ExtractiveSettings(refuse_below=0.0)).answer(
        Retrieval(question, "kk", q, [hit]))


def test_feature_matrix_has_one_row_per_sentence() -> None:
    q = _unit(0)
    hit = _hit(f"{DATELINE}\nФорум 20-21 желтоқсанда өтті. Қатысушылар көп болды.",
               [q, _unit(1, q, 0.5), _unit(2)])
    cands = candidates([hit])
    x = feature_matrix("Форум қашан өтті?", q, "kk", [hit], cands)
    assert x.shape == (3, len(FEATURES))
    row = dict(zip(FEATURES, x[0], strict=True))
    assert row["is_dateline"] == 1.0 and row["cos_rank_inv"] == 1.0
    assert dict(zip(FEATURES, x[1], strict=True))["when_match"] == 1.0


def test_dateline_is_never_quoted_even_when_it_scores_best() -> None:
    q = _unit(0)
    hit = _hit(f"{DATELINE}\nФорум 20-21 желтоқсанда өтті. Қатысушылар көп болды.",
               [q, _unit(1, q, 0.3), _unit(2)])
    text = _answer("Форум қашан өтті?", q, hit)
    assert DATELINE not in text and "[1]" in text


def test_photo_credits_are_credits_but_a_lead_or_a_statement_about_an_author_is_not() -> None:
    assert is_credit("Фото: Kazinform/ А.Павский")
    assert is_credit("Photo: Reuters")
    assert not is_credit("В Алматы состоялся второй медиафорум, сообщает Kazinform")  # the news lead
    assert not is_credit("Автор осыны әшкерелейді.")  # "the author exposes this": a statement
    assert not is_credit("Фотограф снял открытие форума.")


def test_a_photo_credit_is_never_quoted_even_when_it_scores_best() -> None:
    # The gold set's «Кто был спонсором медиафорума в Алматы?» quoted this credit.
    credit = "Фото: Kazinform/ А.Павский"
    q = _unit(0)
    hit = _hit(f"{credit}\nФорум открыли Ерлан Карин и Дмитрий Песков. Участники обсудили медиа.",
               [q, _unit(1, q, 0.3), _unit(2)], lang="ru")
    text = _answer("Кто открыл форум?", q, hit)
    assert credit not in text and "Карин" in text


def test_a_year_only_a_dateline_has_is_refused_by_rule() -> None:
    q = _unit(0)
    hit = _hit(f"{DATELINE}\nФорум 20-21 желтоқсанда өтті. Қатысушылар көп болды.",
               [q, _unit(1, q, 0.3), _unit(2)])
    assert numbers_nowhere("2022 жылы сайлауда кім жеңді?", [DATELINE, "Форум өтті."])
    assert not numbers_nowhere("2022 жылы не болды?", ["2022 жылы форум өтті."])
    assert _answer("2022 жылы сайлауда кім жеңді?", q, hit).startswith(
        "Құжаттарда бұл туралы айтылмаған")


def test_title_is_never_quoted() -> None:
    q = _unit(0)
    hit = _hit("Медиафорум\nФорум 20-21 желтоқсанда өтті.", [q, _unit(1, q, 0.3)],
               title="Медиафорум")
    text = _answer("Медиафорум қашан?", q, hit)
    assert "«Медиафорум» [1]" not in text and "«Форум 20-21 желтоқсанда өтті.» [1]" in text


def test_when_question_gets_the_date_first_and_the_quote_under_it() -> None:
    q = _unit(0)
    hit = _hit("Медиафорум\nФорум 20-21 желтоқсанда өтті.", [q, _unit(1, q, 0.3)],
               title="Медиафорум")
    text = _answer("Медиафорум қашан өтті?", q, hit)
    assert text.splitlines()[0] == "20-21 желтоқсанда [1]"
    assert "«Форум 20-21 желтоқсанда өтті.» [1]" in text.splitlines()[1]


def test_an_untitled_source_gets_no_empty_title_in_the_lead() -> None:
    q = _unit(0)
    hit = _hit("Форум Астанада өтті. Қатысушылар көп болды.", [_unit(1, q, 0.9), _unit(2)],
               title="")
    text = _answer("Форум қайда өтті?", q, hit)
    assert text.startswith("Құжатқа сәйкес") and "«»" not in text


def test_the_committed_model_matches_the_features(tmp_path: Path) -> None:
    model = default_model()
    assert 0 < model.threshold < 1 and len(model.fingerprint) == 12
    bad = json.loads((Path(__file__).parents[1] / "rag/answer/scorer.json").read_text())
    bad["ranker"]["features"] = [*bad["ranker"]["features"][:-1], "no_such_feature"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="no_such_feature"):
        load_model(tmp_path / "bad.json")


# --- on the real model over the sample corpus -------------------------------------------


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    from rag.answer.generators import make_generator
    from rag.index import store
    from rag.index.embedders import make_embedder
    from rag.index.indexer import index_paths
    from rag.index.vector_cache import VectorCache
    from rag.search.hybrid import HybridRetriever
    from rag.settings import SAMPLE_CORPUS, Settings

    settings = Settings.from_env()
    embedder = make_embedder(settings)
    cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
    d = tmp_path_factory.mktemp("extractive-index")
    index_paths([SAMPLE_CORPUS], d, embedder, settings.chunking, cache=cache)
    generator = make_generator("extractive", settings)  # as the page and CLI: with the span reader
    return Assistant(HybridRetriever(store.load(d), embedder), generator, embedder=embedder)


# The chat page's examples (rag/i18n/page.py EXAMPLES), each asked in kk, ru and en, with
# words one of the quotes must contain (None = out of scope, must be refused):
# eval/page_examples.jsonl, which eval/bench/page_examples.py runs with any generator.
# Still wrong with the span reader (issue 9, open), 2026-12-07, third-stage reader
# e4f1a04717d0 with 7-bit int8 weights (10 of 12 right): the Russian question about the
# Central Asian forum (the Kazakh document) quotes the Russian document (issue 12); the
# Kazakh "organised" question quotes the Kazakh document (the Almaty forum is the Russian
# one). The second-stage reader (d0146bf7e601, 8-bit) also missed the English "organised"
# and "When was the Central Asia media forum held?" questions.
_GAP = pytest.mark.xfail(reason="wrong sentence or document quoted (issues 9, 12; open)", strict=False)
_KNOWN_GAPS = {"Когда прошёл Центральноазиатский медиафорум?", "Алматыдағы медиафорумды кім ұйымдастырды?"}
PAGE_EXAMPLES = [
    pytest.param(row["question"], row["quote_has"], marks=[_GAP] if row["question"] in _KNOWN_GAPS else [])
    for row in read_jsonl(Path(__file__).parents[1] / "eval" / "page_examples.jsonl")
]


@pytest.mark.slow
@pytest.mark.parametrize(("question", "expected"), PAGE_EXAMPLES)
def test_page_examples_answered_in_three_languages(
    assistant: Assistant, question: str, expected: tuple[str, ...] | None
) -> None:
    answer = assistant.ask(question)
    assert answer.scorer == assistant.fallback.fingerprint
    if expected is None:
        assert answer.refused, answer.answer
        return
    assert not answer.refused and answer.citations, answer.answer
    quotes = " ".join(c.quote for c in answer.citations)
    assert any(word in quotes for word in expected), answer.answer
    assert answer.supported_share == 1.0, answer.unsupported


def test_page_examples_cover_the_page() -> None:
    from rag.i18n.page import EXAMPLES

    asked = {p.values[0] for p in PAGE_EXAMPLES}
    assert {q for _, q in EXAMPLES} <= asked


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 election in Astana?",
        "Кто победил на выборах 2022 года в Астане?",
        "2022 жылы Астанада өткен сайлауда кім жеңді?",
    ],
)
def test_a_year_only_the_dateline_has_is_refused(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.refused, answer.answer
    assert DATELINE not in answer.answer

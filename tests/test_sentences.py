"""Sentence boundaries in Russian, Kazakh and English, returned as exact character spans."""

from __future__ import annotations

import pytest

from rag.ingest.documents import load_document
from rag.settings import SAMPLE_CORPUS
from rag.text.sentences import split, split_spans


def _check_spans(text: str) -> list[str]:
    """The sentences of `text`, after checking that every span is exact and stripped."""
    spans = split_spans(text)
    sentences = split(text)
    assert [text[s:e] for s, e in spans] == sentences
    previous_end = 0
    for (s, e), sentence in zip(spans, sentences, strict=True):
        assert 0 <= previous_end <= s < e <= len(text)
        assert sentence == sentence.strip()
        assert sentence
        previous_end = e
    # nothing but whitespace lies between (or around) the sentences
    bounds = [0, *[x for span in spans for x in span], len(text)]
    gaps = [text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2)]
    assert all(not gap.strip() for gap in gaps)
    return sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Об этом сообщил Д. Песков. Он добавил детали.",
            ["Об этом сообщил Д. Песков.", "Он добавил детали."],
        ),
        (
            "Кітапты Ғ. Мұстафин жазған. Бұл кітап танымал.",
            ["Кітапты Ғ. Мұстафин жазған.", "Бұл кітап танымал."],
        ),
        (
            "Форум 2022 ж. Астанада өтті. Келесі форум Алматыда.",
            ["Форум 2022 ж. Астанада өтті.", "Келесі форум Алматыда."],
        ),
        (
            "В 2022 г. форум прошёл в Алматы. Затем в Астане.",
            ["В 2022 г. форум прошёл в Алматы.", "Затем в Астане."],
        ),
        (
            "Это важно, т.е. нужно всё учесть. Далее текст.",
            ["Это важно, т.е. нужно всё учесть.", "Далее текст."],
        ),
        (
            "Пришли журналисты, блогеры и т.д. Все заняли места.",
            ["Пришли журналисты, блогеры и т.д.", "Все заняли места."],
        ),
        (
            "Журналисты, блогерлер т.б. келді. Барлығы орын алды.",
            ["Журналисты, блогерлер т.б. келді.", "Барлығы орын алды."],
        ),
        (
            "Рост составил 16,5 процента. Это много.",
            ["Рост составил 16,5 процента.", "Это много."],
        ),
        (
            "Рост составил 3.5 процента. Это много.",
            ["Рост составил 3.5 процента.", "Это много."],
        ),
        (
            "Он сказал: «Мы готовы.» Затем ушёл.",
            ["Он сказал: «Мы готовы.»", "Затем ушёл."],
        ),
        (
            "Он сказал: «Мы готовы!» Затем ушёл.",
            ["Он сказал: «Мы готовы!»", "Затем ушёл."],
        ),
        (
            "Форум закрылся. «Итоги» подведут завтра.",
            ["Форум закрылся.", "«Итоги» подведут завтра."],
        ),
        (
            "«Мы готовы», — сказал он. Затем ушёл.",
            ["«Мы готовы», — сказал он.", "Затем ушёл."],
        ),
        (
            "Mr. Smith went to Washington. He arrived at noon.",
            ["Mr. Smith went to Washington.", "He arrived at noon."],
        ),
        (
            "The U.S. Army took part. See Fig. 3 for details.",
            ["The U.S. Army took part.", "See Fig. 3 for details."],
        ),
        (
            "Where is the forum? It is in Almaty! Everyone came.",
            ["Where is the forum?", "It is in Almaty!", "Everyone came."],
        ),
        (
            "Кто открыл форум? Песков! Да, именно он...  Вот так.",
            ["Кто открыл форум?", "Песков!", "Да, именно он...", "Вот так."],
        ),
        (
            "Что? нет, ничего. Совсем.",
            ["Что? нет, ничего.", "Совсем."],
        ),
        (
            "Итоги года. 2023 год был удачным.",
            ["Итоги года.", "2023 год был удачным."],
        ),
    ],
)
def test_split(text: str, expected: list[str]) -> None:
    assert _check_spans(text) == expected


def test_line_breaks_always_split() -> None:
    text = "Масс-медиа\n68\nзаголовок без точки\n\nпервое предложение, и д. продолжение"
    assert _check_spans(text) == [
        "Масс-медиа",
        "68",
        "заголовок без точки",
        "первое предложение, и д. продолжение",
    ]


def test_spans_are_exact_with_messy_whitespace() -> None:
    text = "  Первое предложение.   Второе!\t\n\n  Третье?  \n Четвёртое  "
    spans = split_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Первое предложение.",
        "Второе!",
        "Третье?",
        "Четвёртое",
    ]
    _check_spans(text)


def test_split_spans_respects_a_window() -> None:
    text = "Пролог. Первое предложение. Второе предложение. Эпилог."
    start = text.index("Первое")
    end = text.index(" Эпилог")
    spans = split_spans(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Первое предложение.", "Второе предложение."]
    assert all(start <= s < e <= end for s, e in spans)


def test_empty_and_blank_text_have_no_sentences() -> None:
    assert split_spans("") == []
    assert split_spans(" \n\t\n ") == []


@pytest.mark.parametrize("name", ["000_1a1ef730ee62db7a.txt", "004_a5a20995b4c71b1a.txt"])
def test_sample_documents_split_into_exact_spans(name: str) -> None:
    doc = load_document(SAMPLE_CORPUS / name)
    sentences = _check_spans(doc.text)
    assert len(sentences) > 10
    assert sentences[0] == doc.title
    if name.startswith("000"):
        assert (
            "Форум открыли Государственный советник Ерлан Карин и заместитель руководителя "
            "Администрации Президента РФ, пресс-секретарь Президента России Дмитрий Песков."
        ) in sentences


def test_te_abbreviation_before_a_capital_does_not_split() -> None:
    text = "Форум стал площадкой для соседей, т.е. Казахстана и России. Далее текст."
    assert split(text) == [
        "Форум стал площадкой для соседей, т.е. Казахстана и России.",
        "Далее текст.",
    ]

"""The reader style of the LLM generator: the model picks one of the scorer's sentences
and names the short answer; jauap quotes the sentence verbatim under it."""

from __future__ import annotations

import json
import re

import pytest

from rag.answer.assistant import Assistant
from rag.answer.cite import LEXICAL_SUPPORT, lexical_support
from rag.answer.extractive import ExtractiveGenerator, ExtractiveSettings
from rag.answer.generators import make_generator
from rag.answer.llm_answer import LLMGenerator
from rag.answer.reader import (
    ANSWER_CHARS,
    EXAMPLES,
    grounded,
    parse_reading,
    reader_messages,
    schema,
    short_answer,
    speaks,
)
from rag.errors import ConfigError, GeneratorError
from rag.records import SpanScore
from rag.search.hybrid import HybridRetriever
from rag.settings import Settings
from tests.fakes import FakeGenerator

OPEN_SELECTOR = ExtractiveGenerator(ExtractiveSettings(refuse_below=0.0))
FAKE_EXTRACTIVE = ExtractiveGenerator(ExtractiveSettings(refuse_below=0.3))
QUESTION = "Кто открыл форум? Ерлан Карин и Дмитрий Песков"


@pytest.fixture
def retriever(fake_sample_retriever: HybridRetriever) -> HybridRetriever:
    return fake_sample_retriever


def reading(sentence: int, answer: str) -> str:
    return json.dumps({"sentence": sentence, "answer": answer}, ensure_ascii=False)


def ask(retriever: HybridRetriever, replies: list[str | Exception], question: str = QUESTION):
    gen = FakeGenerator(replies)
    llm = LLMGenerator(gen, OPEN_SELECTOR, style="reader")
    answer = Assistant(retriever, llm, embedder=retriever.embedder, fallback=FAKE_EXTRACTIVE).ask(question)
    return answer, gen


def candidates(retriever: HybridRetriever, question: str = QUESTION) -> list[str]:
    """The sentences the model is shown, in its numbering."""
    retrieval = retriever.retrieve(question, k=5)
    picks = OPEN_SELECTOR.chosen(retrieval, OPEN_SELECTOR.rank(retrieval))
    return [retrieval.hits[p.n - 1].doc.text[p.span[0] : p.span[1]] for p in picks]


def opening_sentence(retriever: HybridRetriever) -> int:
    """The model's number for the sentence naming who opened the forum."""
    return next(i for i, s in enumerate(candidates(retriever), 1) if "Песков" in s)


def test_the_chosen_sentence_is_quoted_under_the_short_answer(retriever: HybridRetriever) -> None:
    shown = candidates(retriever)
    n = next(i for i, s in enumerate(shown, 1) if "Песков" in s)
    answer, gen = ask(retriever, [reading(n, "Государственный советник Ерлан Карин")])
    assert gen.schemas == [schema(len(shown))] and answer.generator == "fake-llm" and answer.fallback is None
    assert answer.answer.startswith("Государственный советник Ерлан Карин [1] ")
    assert answer.citations[0].quote == shown[n - 1] and f"«{shown[n - 1]}» [1]" in answer.answer
    assert answer.supported_share == 1.0


def test_the_quotes_show_before_the_model_has_read_them(retriever: HybridRetriever) -> None:
    n = opening_sentence(retriever)
    gen = FakeGenerator([reading(n, "Государственный советник Ерлан Карин")])
    assistant = Assistant(retriever, LLMGenerator(gen, OPEN_SELECTOR, style="reader"),
                          embedder=retriever.embedder, fallback=FAKE_EXTRACTIVE)
    drafts = []
    for answer in assistant.stream(QUESTION):
        drafts.append((answer.answer, len(gen.calls)))
    (first, asked), final = drafts[0], drafts[-1][0]
    assert asked == 0 and first.startswith("Согласно документу") and "[1]" in first
    assert final.startswith("Государственный советник Ерлан Карин [1] ")
    # the same quotes under it (the check renumbers the sources and joins the lines)
    unnumbered = [" ".join(re.sub(r"\[\d+\]", "[]", text).split()) for text in (first, final)]
    assert unnumbered[1].endswith(unnumbered[0])


def test_the_prompt_numbers_the_sentences_the_extractive_answer_quotes_after_fixed_examples(
    retriever: HybridRetriever,
) -> None:
    _, gen = ask(retriever, [reading(0, "")])
    messages = gen.calls[0]
    assert len(messages) == 2 + 2 * len(EXAMPLES)  # system, example pairs, the question
    user = messages[-1]["content"]
    for i, sentence in enumerate(candidates(retriever), 1):
        assert f"{i}. {' '.join(sentence.split())}" in user
    assert user.endswith("Answer in Russian.")
    _, again = ask(retriever, [reading(0, "")], "Who opened the forum?")
    assert again.calls[0][:-1] == messages[:-1]  # the same prefix: llama.cpp caches it


def test_a_short_answer_in_another_language_is_asked_for_once_more(retriever: HybridRetriever) -> None:
    n = opening_sentence(retriever)
    wrong = reading(n, "The forum was opened by Yerlan Karin")
    answer, gen = ask(retriever, [wrong, reading(n, "Государственный советник Ерлан Карин")])
    assert len(gen.calls) == 2 and gen.calls[1][-1]["content"] == "Write the answer in Russian."
    assert answer.answer.startswith("Государственный советник Ерлан Карин [1]")
    # still wrong the second time: the quote alone, no short answer line in English
    answer, _ = ask(retriever, [wrong, wrong])
    assert not answer.answer.startswith("The forum") and answer.answer.startswith("Согласно")
    assert answer.citations and answer.fallback is None


def test_names_in_latin_letters_are_checked_against_a_cyrillic_source() -> None:
    source = ("Форум открыли Государственный советник Ерлан Карин и заместитель руководителя "
              "Администрации Президента РФ, пресс-секретарь Президента России Дмитрий Песков.")
    assert lexical_support("Erlan Karin and Dmitry Peskov", source, ["en", "ru"]) >= LEXICAL_SUPPORT
    assert lexical_support("Vladimir Putin opened the summit", source, ["en", "ru"]) < LEXICAL_SUPPORT
    assert grounded("Erlan Karin and Dmitry Peskov", source, "en", "ru")


def test_no_json_or_a_sentence_not_shown_falls_back_to_the_extractive_answer(
    retriever: HybridRetriever,
) -> None:
    for reply in ("I think the answer is Karin.", reading(len(candidates(retriever)) + 1, "x")):
        answer, _ = ask(retriever, [reply])
        assert answer.fallback and answer.generator == "extractive"


def test_the_model_finding_no_answer_leaves_the_quotes_without_a_short_answer(
    retriever: HybridRetriever,
) -> None:
    answer, _ = ask(retriever, [reading(0, "")])
    assert not answer.refused and answer.generator == "fake-llm" and answer.fallback is None
    assert answer.answer.startswith("Согласно документу") and answer.citations


def test_parse_reading_takes_the_sentence_by_its_number(retriever: HybridRetriever) -> None:
    retrieval = retriever.retrieve(QUESTION, k=5)
    picks = OPEN_SELECTOR.chosen(retrieval, OPEN_SELECTOR.rank(retrieval))
    for n in range(1, len(picks) + 1):
        got = parse_reading(reading(n, " Ерлан  Карин "), picks)
        assert got.pick == picks[n - 1] and got.answer == "Ерлан Карин"
    assert parse_reading('noise {"sentence": 0, "answer": ""} more', picks).pick is None
    for bad in ('{"quote": "Карин"}', '{"sentence": true}', "[1]", reading(len(picks) + 1, "x"),
                reading(-1, "x"), "{broken"):
        with pytest.raises(GeneratorError):
            parse_reading(bad, picks)


def test_a_short_answer_cut_off_at_its_cap_is_not_shown(retriever: HybridRetriever) -> None:
    retrieval = retriever.retrieve(QUESTION, k=5)
    picks = OPEN_SELECTOR.chosen(retrieval, OPEN_SELECTOR.rank(retrieval))
    cut = ("Ерлан Карин " * 20)[:ANSWER_CHARS]  # what the schema's maxLength lets through
    got = parse_reading(reading(1, cut), picks)
    assert got.pick == picks[0] and got.answer == ""
    assert parse_reading(reading(1, cut[:-1]), picks).answer == cut[:-1].strip()


def test_the_style_is_a_setting_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="llm_style must be one of reader, writer, got 'poet'"):
        Settings(llm_style="poet")
    assert Settings.from_env({"JAUAP_LLM_STYLE": "writer"}).llm_style == "writer"
    assert make_generator("fake", Settings()).style == "reader"  # type: ignore[attr-defined]


def test_reader_messages_hold_the_question_language() -> None:
    messages = reader_messages("Қашан өтті?", "kk", [], [])
    assert messages[-1]["content"].endswith("Answer in Kazakh.")


def test_a_short_answer_the_sentence_does_not_hold_is_not_shown() -> None:
    sentence = "20-21 желтоқсанда елімізде алғаш рет I Орталық Азия медиафорумы өтті."
    question = "Орталық Азия медиафорумы қашан өтті?"
    assert not grounded("1932 жылы", sentence, "kk", "kk")  # a year from the examples
    assert not grounded("Астана қаласында", sentence, "kk", "kk")
    assert grounded("20-21 желтоқсанда", sentence, "kk", "kk")
    assert grounded("20-21 December", sentence, "en", "kk")
    # the model's ungrounded answer gives way to the extractive rule's verbatim date
    assert short_answer(question, "kk", sentence, "kk", "1932 жылы") == "20-21 желтоқсанда"
    assert short_answer(question, "kk", sentence, "kk", "20-21 желтоқсанда") == "20-21 желтоқсанда"
    assert short_answer("Кім ашты?", "kk", sentence, "kk", "1932") is None
    # across languages the verbatim date beats the model's translation of it
    wrong_month = "20-21 October"
    assert short_answer("When was the forum held?", "en", sentence, "kk", wrong_month) == "«20-21 желтоқсанда»"
    # an answer made of the question's own words is no answer
    assert short_answer("Алматыдағы форумды кім ашты?", "kk", "Форумды Алматыда Ерлан Карин ашты.", "kk", "Алматы") is None


def test_the_models_short_answer_must_agree_with_the_span_reader() -> None:
    # the kk dev failure: «Энергетикалық алмасу дегеніміз не?» got «электр энергиясы»,
    # words of the sentence that the reader's span (the answer) does not hold
    sentence = "Энергетикалық алмасу кезінде бөлінген энергия АТФ синтезіне жұмсалады, ал электр энергиясы бөлінбейді."
    question = "Энергетикалық алмасу дегеніміз не?"
    start = sentence.index("АТФ синтезіне")
    read = SpanScore(margin=-3.0, start=start, end=start + len("АТФ синтезіне"))  # under every floor
    assert short_answer(question, "kk", sentence, "kk", "электр энергиясы", read) is None
    assert short_answer(question, "kk", sentence, "kk", "АТФ синтезіне", read) == "АТФ синтезіне"
    assert short_answer(question, "kk", sentence, "kk", "электр энергиясы") == "электр энергиясы"  # no reader
    # a translation across languages is not compared with the reader's words
    opened = "Форумды Мемлекеттік кеңесші Ерлан Карин ашты."
    elsewhere = SpanScore(margin=-3.0, start=0, end=len("Форумды"))
    assert short_answer("Who opened the forum?", "en", opened, "kk", "Erlan Karin", elsewhere) == "Erlan Karin"


def test_a_short_answer_keeps_the_question_language_or_is_quoted() -> None:
    sentence = "Организаторами форума выступили Телерадиокомплекс Президента и агентство ТАСС."
    question = "Who organised the forum?"
    # copied from a Russian sentence for an English question: shown as a quote
    assert short_answer(question, "en", sentence, "ru", "агентство ТАСС") == "«агентство ТАСС»"
    assert short_answer("Кто организовал форум?", "ru", sentence, "ru", "агентство ТАСС") == "агентство ТАСС"
    # in Cyrillic but not copied: not English, not shown; the English rendering is
    assert short_answer(question, "en", sentence, "ru", "агентства ТАСС") is None
    assert short_answer(question, "en", sentence, "ru", "the TASS agency") == "the TASS agency"
    assert speaks("TASS", "en") and not speaks("ТАСС", "en") and speaks("ТАСС", "kk")

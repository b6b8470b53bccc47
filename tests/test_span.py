"""The short answer inside a quote: the span reader's span when it is sure enough for the
asked type; without the reader, rules for when/how-many questions, only when unambiguous."""

from __future__ import annotations

import pytest

from rag.answer.span import MAX_SHORT_WORDS, MEASURED, READER_FLOORS, answer_span, typed_span
from rag.records import SpanScore

FORUM = ("Форум открыли Государственный советник Ерлан Карин и заместитель руководителя "
         "Администрации Президента РФ, пресс-секретарь Президента России Дмитрий Песков.")


def _short(question: str, sentence: str) -> str | None:
    span = answer_span(question, sentence)
    return sentence[span[0] : span[1]] if span else None


@pytest.mark.parametrize(
    ("question", "sentence", "short"),
    [
        ("When was the forum founded?", "It was founded on 20 December 2022 in Astana.", "20 December 2022"),
        ("Форум қашан өтті?", "2022 жылғы 20 желтоқсан Астана қаласында форум өтті.",
         "2022 жылғы 20 желтоқсан"),
        ("В каком году открыли музей?", "Музей открыли в 1998 году по решению акимата.", "1998"),
        ("When was the highway system created?", "It was created in the 1950s by law.", "1950s"),
        ("Сколько очков уступила защита?", "Защита уступила всего 308 очков за сезон.", "308"),
        ("How many people live there?", "About 1,200,000 people live in the city.", "1,200,000"),
        ("Қанша адам қатысты?", "Форумға 300-ден астам журналист қатысты.", "300"),
    ],
)
def test_dates_and_numbers_are_marked(question: str, sentence: str, short: str | None) -> None:
    assert _short(question, sentence) == short


def test_a_number_the_question_already_has_is_not_the_answer() -> None:
    assert _short("How many deputies came in 2022?", "In 2022, 14 deputies came to Astana.") == "14"
    assert _short("What happened in 2022?", "In 2022 the forum moved.") is None


def test_two_candidate_numbers_give_no_short_answer() -> None:
    assert _short("How many points?", "They scored 308 points and 24 interceptions.") is None


def test_without_the_reader_who_is_measured_but_not_shown() -> None:
    question = "Who opened the media forum in Almaty?"
    assert answer_span(question, FORUM) is None
    span = typed_span(question, FORUM, MEASURED)
    assert span is not None and FORUM[span[0] : span[1]] == "Ерлан Карин"


def test_questions_of_no_type_get_none() -> None:
    assert answer_span("Why did the forum matter?", "It was founded on 20 December 2022.") is None


def _read(sentence: str, phrase: str, margin: float) -> SpanScore:
    at = sentence.index(phrase)
    return SpanScore(margin, at, at + len(phrase))


def _reader_short(question: str, sentence: str, read: SpanScore) -> str | None:
    span = answer_span(question, sentence, read)
    return sentence[span[0] : span[1]] if span else None


def test_the_readers_span_is_the_short_answer_at_its_types_floor() -> None:
    question = "Who opened the media forum in Almaty?"
    floor = READER_FLOORS["who"]
    assert _reader_short(question, FORUM, _read(FORUM, "Ерлан Карин", floor)) == "Ерлан Карин"
    # below the floor: no short answer, and no fallback to the name rule
    assert _reader_short(question, FORUM, _read(FORUM, "Ерлан Карин", floor - 0.5)) is None


def test_a_read_sentence_takes_the_readers_span_over_the_rules() -> None:
    sentence = "In 2019 the museum had 1,200 visitors and 14 guides."
    question = "How many guides worked there?"
    assert _reader_short(question, sentence, _read(sentence, "14", READER_FLOORS["number"])) == "14"
    assert answer_span(question, sentence) is None  # the rule sees three numbers


def test_reader_spans_are_trimmed_and_must_say_something_new() -> None:
    sentence = "Форум открыл «Ерлан Карин», советник."
    assert _reader_short("Кто открыл форум?", sentence, _read(sentence, "«Ерлан Карин»,", 9.0)) == "Ерлан Карин"
    assert _reader_short("Кто открыл форум?", sentence, _read(sentence, "Форум открыл", 9.0)) is None
    when = "Форум 20-21 желтоқсанда өтті."
    assert _reader_short("Форум қашан өтті?", when, _read(when, "20-21 желтоқсан", 9.0)) == "20-21 желтоқсанда"
    agency = "Фото предоставило агентство Kazinform (Астана)."
    read = _read(agency, "Kazinform (Астана).", 9.0)
    assert _reader_short("Кто автор фото?", agency, read) == "Kazinform (Астана)"
    cut = "Он выступил с актером «Peace one day» Джереми Гилли."
    assert _reader_short("С кем он выступил?", cut, _read(cut, "актером «Peace one day", 9.0)) is None
    long = "Speakers: " + " ".join(f"Name{i}" for i in range(MAX_SHORT_WORDS + 1)) + "."
    assert _reader_short("Who spoke?", long, _read(long, "Name0", 9.0)) == "Name0"
    assert _reader_short("Who spoke?", long, SpanScore(9.0, long.index("Name0"), len(long) - 1)) is None

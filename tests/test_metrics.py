"""Metrics are pure functions over ids and strings; gates compare them with floors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.eval import metrics
from rag.eval.gates import check_gates
from rag.eval.run import aggregate


def test_rank_metrics() -> None:
    ranked = ["a", "b", "c", "d"]
    assert metrics.hit_at(ranked, {"c"}, 2) == 0.0
    assert metrics.hit_at(ranked, {"c"}, 3) == 1.0
    assert metrics.mrr_at(ranked, {"c"}, 10) == pytest.approx(1 / 3)
    assert metrics.mrr_at(ranked, {"z"}, 10) == 0.0
    assert metrics.ndcg_at(ranked, {"a"}, 10) == 1.0
    assert metrics.ndcg_at(ranked, {"b", "a"}, 10) == 1.0
    assert 0 < metrics.ndcg_at(ranked, {"d"}, 10) < 0.5
    assert metrics.dedupe(["x", "y", "x", "z", "y"]) == ["x", "y", "z"]


def test_answer_contains_ignores_case_punctuation_and_word_endings() -> None:
    assert metrics.contains_answer("Форум открыл Дмитрий Песков.", ["дмитрий песков"], ["ru"])
    # Kazakh case ending on the answer: медиафорумында vs медиафорумы
    assert metrics.contains_answer("Астана қаласындағы медиафорумында", ["Астана қаласы"], ["kk"])
    assert metrics.contains_answer("В Москве, в ноябре.", ["Москва"], ["ru"])
    assert not metrics.contains_answer("В Алматы.", ["Москва"], ["ru"])


def test_token_f1_and_precision_recall() -> None:
    assert metrics.token_f1("Ерлан Карин", "Ерлан Карин", "ru") == 1.0
    assert metrics.token_f1("Карин", "Ерлан Карин", "ru") == pytest.approx(2 / 3)
    assert metrics.token_f1("ничего", "Ерлан Карин", "ru") == 0.0
    assert metrics.precision_recall(["a", "b"], {"a"}) == (0.5, 1.0)
    assert metrics.precision_recall([], {"a"}) == (None, 0.0)


def test_percentile_and_mean() -> None:
    assert metrics.percentile([5, 1, 3, 2, 4], 50) == 3
    assert metrics.percentile([1, 2, 3, 4, 100], 95) == 100
    assert metrics.percentile([], 50) is None
    assert metrics.mean([1.0, None, 0.0]) == 0.5
    assert metrics.mean([None]) is None


def test_aggregate_groups_and_gates(tmp_path: Path) -> None:
    # groups of >= 30 questions: smaller ones may carry no bound (rag.eval.gates)
    rows = [
        {"group": "en->kk", "hit@1": 1.0, "retrieval_ms": 5.0},
        {"group": "en->kk", "hit@1": 0.0, "retrieval_ms": 7.0},
    ] * 15 + [{"group": "kk->kk", "hit@1": 1.0, "retrieval_ms": 6.0}] * 10
    summary = aggregate(rows)
    assert summary["overall"]["n"] == 40
    assert summary["groups"]["en->kk"]["hit@1"] == 0.5
    assert summary["overall"]["answer_contains"] is None
    floors = tmp_path / "t.toml"
    floors.write_text('[run.overall]\n"hit@1" = 0.6\n[run."en->kk"]\n"hit@1" = 0.6\n[run."ru->ru"]\n"hit@1" = 0.1\n')
    failures = check_gates(summary, floors, "run")
    assert len(failures) == 2
    assert any("en->kk hit@1 = 0.500 < floor 0.6" in f for f in failures)
    assert any("'ru->ru' missing" in f for f in failures)
    floors.write_text('[run.overall]\n"hit@1" = 0.5\n')
    assert check_gates(summary, floors, "run") == []


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("According to “В Алматы обсудили” (2025-09-29, in Russian): «Форум открыли Ерлан Карин и Дмитрий Песков.» [1]", "en"),
        ("«Алматы» құжатына сәйкес: «Форум открыли Ерлан Карин.» [1] Форумды Ерлан Қарин ашты.", "kk"),
        ("Форум открыли Ерлан Карин и Дмитрий Песков [1].", "ru"),
        # a quote that quotes a title: the whole outer quote is left out
        ("According to “I Орталық Азия медиафорумы” (2022-12-20, in Kazakh): «Димаш Құдайберген "
         "британдық актер, «Peace one day» жаһандық жобасының негізін қалаушы Джереми Гиллимен "
         "бірге бейбітшілік идеясына арналған арнайы сессия өткізді.» [1]", "en"),
    ],
)
def test_answer_language_ignores_quotes_and_markers(text: str, lang: str) -> None:
    assert metrics.answer_language(text) == lang


def test_guillemet_quotes_are_left_out_whole_and_an_unclosed_one_to_the_end() -> None:
    assert metrics.without_guillemet_quotes("a «b «c» d» e «f") == "a   e "
    assert metrics.without_guillemet_quotes("no quotes » here") == "no quotes » here"


def test_lead_answer_is_the_short_answer_over_the_quotes() -> None:
    quote = "According to “В Алматы обсудили” (2025-09-29, in Russian): «Форум открыли Ерлан Карин.» [1]"
    assert metrics.lead_answer(f"Erlan Karin [1] {quote}") == "Erlan Karin"
    assert metrics.lead_answer(f"«20-21 желтоқсанда» [2]\n{quote}") == "«20-21 желтоқсанда»"
    assert metrics.lead_answer(quote) is None  # opens with a quote: no short answer
    assert metrics.lead_answer("Форум открыли Ерлан Карин и Дмитрий Песков [1].") == "Форум открыли Ерлан Карин и Дмитрий Песков"
    assert metrics.lead_answer("The documents don't say.") is None  # cites nothing


def test_every_quote_lead_in_reads_as_a_quote_not_a_short_answer() -> None:
    from rag.i18n.answers import ALSO, LEAD, LEAD_UNTITLED

    for lang in ("en", "ru", "kk"):
        for lead in (LEAD[lang], LEAD_UNTITLED[lang], f"{ALSO[lang]} {LEAD[lang]}"):
            opening = lead.format(title="Форум", meta=" (2025-09-29)")
            assert metrics.lead_answer(f"{opening} «Форум открыли Ерлан Карин.» [1]") is None, opening


def test_score_answer_counts_the_short_answer_and_whether_it_holds_the_gold() -> None:
    from rag.eval.run import score_answer
    from rag.eval.sets import EvalQuestion

    q = EvalQuestion(qid="q", question="Кто открыл форум?", lang="ru", doc_lang="ru", relevant=frozenset({"d"}),
                     answerable=True, answers=("Ерлан Карин",))
    quote = "Согласно документу «Форум»: «Форум открыли Ерлан Карин и Дмитрий Песков.» [1]"
    right = score_answer(q, {"answer": f"Ерлан Карин [1] {quote}", "citations": [{"doc_id": "d"}]})
    wrong = score_answer(q, {"answer": f"Дмитрий Песков [1] {quote}", "citations": [{"doc_id": "d"}]})
    bare = score_answer(q, {"answer": quote, "citations": [{"doc_id": "d"}]})
    assert (right["short_answer_shown"], right["short_answer_contains"]) == (1.0, 1.0)
    assert (wrong["short_answer_shown"], wrong["short_answer_contains"]) == (1.0, 0.0)
    assert (bare["short_answer_shown"], bare["short_answer_contains"]) == (0.0, None)
    assert wrong["answer_contains"] == 1.0  # the quote under it still holds the answer

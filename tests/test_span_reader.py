"""The span reader: span scoring from its logits, which sentences it reads, the scorer
columns it fills, and (real model, slow) who-questions answered by the naming sentence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from rag.answer.features import FEATURES, READER_UNREAD, candidates, with_reader
from rag.answer.span_reader import margins, read_candidates
from rag.records import Chunk, Document, Hit, Reading, Sentence


def _reading(offsets: list[tuple[int, int]], start: list[float], end: list[float],
             window: list[int], null: list[float]) -> Reading:
    return Reading(np.array(offsets), np.array(start), np.array(end), np.array(window), np.array(null))


def test_best_span_is_the_best_pair_inside_the_range_minus_its_windows_null() -> None:
    r = _reading([(0, 4), (5, 9), (10, 14), (15, 19)], start=[5, 1, 0, 9], end=[0, 2, 6, 1],
                 window=[0, 0, 0, 0], null=[3.0])
    score, span = r.best_span(0, 14)  # type: ignore[misc]
    assert span == (0, 14) and score == pytest.approx(5 + 6 - 3)
    score, span = r.best_span(5, 19)  # type: ignore[misc]
    # start at token 3 (9) with end at token 2 (6) would score 15, but ends precede no starts
    assert span == (15, 19) and score == pytest.approx(9 + 1 - 3)
    assert r.best_span(20, 30) is None


def test_best_span_takes_each_window_against_its_own_null() -> None:
    # the same tokens read in two overlapping windows: the second is surer there is an answer
    r = _reading([(0, 4), (5, 9), (0, 4), (5, 9)], start=[4, 0, 3, 0], end=[0, 4, 0, 3],
                 window=[0, 0, 1, 1], null=[10.0, 1.0])
    score, span = r.best_span(0, 9)  # type: ignore[misc]
    assert span == (0, 9) and score == pytest.approx(3 + 3 - 1)


def test_reader_columns_mark_unread_sentences_and_the_gap_to_the_best() -> None:
    x = np.zeros((3, len(FEATURES)), dtype=np.float32)
    out = with_reader(x, np.array([2.0, np.nan, -1.0]))
    col = {f: out[:, FEATURES.index(f)].tolist() for f in ("reader", "reader_gap", "reader_read")}
    assert col == {"reader": [2.0, READER_UNREAD, -1.0], "reader_gap": [0.0, READER_UNREAD, -3.0],
                   "reader_read": [1.0, 0.0, 1.0]}
    assert not x.any()  # a copy


class _MarksWord:
    """A deterministic Reader: the span is the first occurrence of `word`, else no answer."""

    fingerprint = "marks-word"

    def __init__(self, word: str) -> None:
        self.word = word
        self.seen: list[str] = []

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]:
        out = []
        for text in passages:
            self.seen.append(text)
            at = text.find(self.word)
            words = [(i, i + len(w)) for i, w in _words(text)]
            start = [5.0 if a == at else 0.0 for a, _ in words]
            out.append(_reading(words or [(0, 0)], start or [0.0], start or [0.0], [0] * max(len(words), 1), [4.0]))
        return out


def _words(text: str) -> list[tuple[int, str]]:
    import re

    return [(m.start(), m.group()) for m in re.finditer(r"\w+", text)]


def _hit(text: str) -> Hit:
    doc = Document(doc_id="d", source="d.txt", title="", lang="en", text=text, content_hash="h")
    spans, at = [], 0
    for s in text.split(". "):
        spans.append((at, at + len(s) + 1))
        at += len(s) + 2
    sentences = tuple(Sentence(a, min(b, len(text)), np.zeros(4, dtype=np.float32)) for a, b in spans)
    chunk = Chunk("c", "d", 0, 0, len(text), text, tuple(spans))
    return Hit(rank=1, score=1.0, chunk=chunk, doc=doc, sentences=sentences)


def test_only_the_first_passes_best_sentences_are_read_with_their_neighbours() -> None:
    hit = _hit("One a. Two b. Karin opened it. Four d. Five e. Six f.")
    cands = candidates([hit])
    first = np.array([0.1, 0.2, 0.9, 0.3, 0.0, 0.0])  # read the top 2: "Karin..." and "Four d."
    reader = _MarksWord("Karin")
    spans = read_candidates(reader, "who opened it?", [hit], cands, first, top=2)
    assert reader.seen == ["Two b. Karin opened it. Four d. Five e."]  # one excerpt, neighbours
    m = margins(spans)
    assert np.isnan(m[[0, 1, 4, 5]]).all()
    assert m[2] == pytest.approx(5 + 5 - 4) and m[3] == pytest.approx(-4)
    found = spans[2]
    assert found is not None and cands[2].text[found.start : found.end] == "Karin"  # in its sentence


def test_the_answer_shows_the_readers_span_over_the_quote_that_holds_it() -> None:
    from rag.answer.extractive import ExtractiveGenerator, ExtractiveSettings
    from rag.records import Retrieval

    hit = _hit("The forum met in Astana. Erlan Karin opened it in the main hall. Talks went on late.")
    # no embeddings here, so the scorer is unsure: answer anyway, the short line is tested
    gen = ExtractiveGenerator(ExtractiveSettings(refuse_below=0.0), reader=_MarksWord("Karin"))
    answer = gen.answer(Retrieval("Who opened the forum?", "en", None, [hit]))
    short, quote = answer.splitlines()[:2]
    assert short == "Karin [1]"  # margin 5 + 5 - 4 = 6: the who-floor
    assert "«Erlan Karin opened it in the main hall.» [1]" in quote


def test_saved_adapters_load_back_for_a_later_training_stage() -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from eval.span_reader.lora import add_lora, load_lora_state, lora_state

    def tiny() -> torch.nn.Module:
        torch.manual_seed(0)
        config = transformers.XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2,
                                               num_attention_heads=2, intermediate_size=32)
        model = transformers.XLMRobertaModel(config, add_pooling_layer=False).eval()
        for p in model.parameters():  # frozen base, as eval/span_reader/train.py has it
            p.requires_grad = False
        return model

    trained = tiny()
    add_lora(trained, rank=2, top_layers=1)
    with torch.no_grad():
        for p in trained.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))
    fresh = tiny()
    add_lora(fresh, rank=2, top_layers=1)
    load_lora_state(fresh, lora_state(trained))
    ids = torch.tensor([[0, 5, 7, 2]])
    with torch.no_grad():
        assert torch.allclose(fresh(input_ids=ids).last_hidden_state, trained(input_ids=ids).last_hidden_state, atol=1e-5)


def test_the_citation_card_shows_the_quoted_sentence_not_another_holding_the_short_answer() -> None:
    from rag.answer.cite import check

    hit = _hit("Karin came in May. Erlan Karin opened the forum. Karin left early.")
    text = "Karin [1]\nAccording to it: «Erlan Karin opened the forum.» [1]"
    checked = check(text, [hit], "en")
    assert [c.quote for c in checked.citations] == ["Erlan Karin opened the forum."]


@pytest.mark.slow
def test_the_exported_reader_has_7_bit_weights_so_every_cpu_answers_alike() -> None:
    """As the embedder (tests/test_e5model.py): full-range int8 weights saturate on CPUs
    without VNNI, and the gold answers differed between an AVX2 and an AVX-512 VNNI machine."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from rag.answer.span_reader import ensure_reader
    from rag.settings import Settings

    graph = onnx.load(str(ensure_reader(Settings.from_env().models_dir))).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    quantized = [n.input[1] for n in graph.node if n.op_type == "MatMulInteger"]
    assert quantized
    for name in quantized:
        assert int(np.abs(weights[name].astype(np.int16)).max()) <= 64, name


def test_hard_negatives_keep_the_answers_neighbours_without_any_sentence_holding_it() -> None:
    pytest.importorskip("torch")
    from eval.span_reader.train import hard_negatives

    text = ("The city lies on a river. It was founded by traders long ago. Its first mayor was "
            "Anna Berg. Berg served two terms. The port grew fast after the railway came.")
    start = text.index("Anna Berg")
    rows = [("Who was the first mayor?", text, start, "Anna Berg"),
            ("Unanswerable here?", text, -1, "")]  # fmt: skip
    (neg,) = hard_negatives(rows, rate=1.0)
    question, rest, at, answer = neg
    assert (question, at, answer) == ("Who was the first mayor?", -1, "")
    assert "Anna Berg" not in rest and "first mayor" not in rest
    assert rest.startswith("The city lies") and "Berg served two terms." in rest

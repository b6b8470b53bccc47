"""The gates catch a broken retriever: with the reviewed floors of eval/thresholds.toml,
the real pipeline passes the gold set's retrieval floors and a shuffling one fails them.
Ceilings (`_max` keys) fail when a value goes above them."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest

from rag.eval.gates import MIN_GATED_QUESTIONS, check_bounds, check_gates
from rag.eval.run import RETRIEVAL_KEYS, aggregate, run
from rag.eval.sets import load_gold
from rag.index import store
from rag.index.embedders import make_embedder
from rag.index.indexer import index_paths
from rag.ingest.chunking import ChunkSettings
from rag.records import Retrieval
from rag.search.hybrid import HybridRetriever
from rag.settings import SAMPLE_CORPUS, Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

THRESHOLDS = PROJECT_ROOT / "eval" / "thresholds.toml"


class ShuffledRetriever:
    """A deliberately broken retriever: the right candidates in a random order."""

    def __init__(self, inner: HybridRetriever, seed: int = 7) -> None:
        self.inner = inner
        self.rng = random.Random(seed)

    def retrieve(self, question: str, k: int = 5, lang: str | None = None) -> Retrieval:
        retrieval = self.inner.retrieve(question, k=k, lang=lang)
        self.rng.shuffle(retrieval.hits)
        return retrieval


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[HybridRetriever, list, Path]:
    questions, files = load_gold(PROJECT_ROOT / "eval" / "gold.jsonl", SAMPLE_CORPUS)
    embedder = make_embedder(Settings.from_env())
    index_dir = tmp_path_factory.mktemp("gold-index")
    index_paths(files, index_dir, embedder, ChunkSettings())
    floors = tomllib.loads(THRESHOLDS.read_text(encoding="utf-8"))["gold"]["overall"]
    retrieval_only = tmp_path_factory.mktemp("floors") / "t.toml"
    retrieval_only.write_text(
        "[gold.overall]\n" + "".join(f'"{k}" = {v}\n' for k, v in floors.items() if k in RETRIEVAL_KEYS)
    )
    return HybridRetriever(store.load(index_dir), embedder), questions, retrieval_only


@pytest.mark.slow
def test_real_retriever_passes_the_gold_retrieval_floors(setup: tuple) -> None:
    retriever, questions, floors = setup
    assert check_gates(aggregate(run(questions, retriever)), floors, "gold") == []


@pytest.mark.slow
def test_shuffled_retriever_fails_the_gates(setup: tuple) -> None:
    retriever, questions, floors = setup
    failures = check_gates(aggregate(run(questions, ShuffledRetriever(retriever))), floors, "gold")
    assert any("hit@1" in f for f in failures), failures


def test_ceilings_fail_above_and_floors_below(tmp_path: Path) -> None:
    gates = tmp_path / "gates.toml"
    gates.write_text(
        "[run.overall]\nfalse_refusal_rate_max = 0.08\n\"hit@1\" = 0.5\n"
        '[run."100000"]\np95_ms_max = 100\n'
    )
    ok = {"overall": {"false_refusal_rate": 0.08, "hit@1": 0.5}, "groups": {"100000": {"p95_ms": 99.0}}}
    assert check_gates(ok, gates, "run") == []
    bad = {"overall": {"false_refusal_rate": 0.2, "hit@1": 0.4}, "groups": {"100000": {"p95_ms": 140.0}}}
    assert check_gates(bad, gates, "run") == [
        "[run] overall false_refusal_rate = 0.200 > ceiling 0.08",
        "[run] overall hit@1 = 0.400 < floor 0.5",
        "[run] 100000 p95_ms = 140.000 > ceiling 100",
    ]
    missing = check_bounds({"overall": {}, "groups": {}}, {"overall": {"p95_ms_max": 1.0}}, "run")
    assert missing == ["[run] overall p95_ms: no value (ceiling 1.0)"]


def test_a_bound_on_a_group_too_small_to_carry_it_is_refused(tmp_path: Path) -> None:
    """One question of nine is .111: such a floor fails on machine noise, so the gate file
    may not hold it (the rule: groups of >= 30 questions)."""
    gates = tmp_path / "gates.toml"
    gates.write_text('[gold."en->kk"]\nanswer_contains = 0.5\n[gold."ru->ru"]\n"hit@1" = 0.5\n')
    summary = {
        "overall": {"n": 76},
        "groups": {"en->kk": {"n": 9, "answer_contains": 0.9}, "ru->ru": {"n": 30, "hit@1": 0.6}},
    }
    failures = check_gates(summary, gates, "gold")
    assert len(failures) == 1 and "'en->kk' has 9 questions" in failures[0]


def test_the_shipped_gate_file_bounds_only_groups_that_can_carry_them() -> None:
    """Every per-group bound in eval/thresholds.toml names a group of >= 30 questions in the
    sets it gates (counted from the gold file; the dev groups have 273-612)."""
    data = tomllib.loads(THRESHOLDS.read_text(encoding="utf-8"))
    questions, _ = load_gold(PROJECT_ROOT / "eval" / "gold.jsonl", SAMPLE_CORPUS)
    sizes: dict[str, int] = {}
    for q in questions:
        sizes[q.group] = sizes.get(q.group, 0) + 1
    for group in data["gold"]:
        assert group == "overall" or sizes[group] >= MIN_GATED_QUESTIONS, (group, sizes[group])

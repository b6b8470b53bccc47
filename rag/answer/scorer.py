"""The learned sentence scorer: gradient-boosted trees over `rag.answer.features`, shipped as
rag/answer/scorer.json (flat node arrays, feature names, the calibrated refusal threshold,
the training data's fingerprint and the command that made it: eval/answer_scorer/).
Inference is numpy only: all trees are walked at once, one level per step."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from rag.answer.features import FEATURES
from rag.errors import ConfigError


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted trees as flat node arrays: P(label) from feature rows."""

    columns: np.ndarray  # which FEATURES columns the trees' feature indices refer to
    base: float
    roots: np.ndarray
    depth: int
    feature: np.ndarray  # per node; -1 = leaf
    threshold: np.ndarray  # per node: x <= threshold goes left
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray  # per leaf: its log-odds contribution

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros(0, dtype=np.float64)
        z = x[:, self.columns]
        node = np.broadcast_to(self.roots, (len(z), len(self.roots))).copy()
        rows = np.arange(len(z))[:, None]
        for _ in range(self.depth):
            f = self.feature[node]
            inner = f >= 0
            go_left = z[rows, np.where(inner, f, 0)] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        raw = self.base + self.value[node].sum(axis=1)
        return 1.0 / (1.0 + np.exp(-raw))


@dataclass(frozen=True)
class ScorerModel:
    """Two tree models over the same candidate rows: `ranker` orders the sentences (it
    leaves the retrieval rank out: ranking by it favoured the top passage over the answer),
    `answerable` (all features) decides refusal with `threshold`."""

    ranker: Trees
    answerable: Trees
    threshold: float  # refuse when no sentence's answerable probability reaches this
    second_ratio: float  # quote a second sentence when its rank score is >= ratio * best
    fingerprint: str

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(sentence contains the answer), all features (the refusal decision's input)."""
        return self.answerable.probabilities(x)


def _trees(d: dict, path: Path) -> Trees:
    missing = [f for f in d["features"] if f not in FEATURES]
    if missing:
        raise ConfigError(f"{path}: unknown features {missing}: retrain the scorer")
    return Trees(
        columns=np.array([FEATURES.index(f) for f in d["features"]]),
        base=float(d["base"]),
        roots=np.asarray(d["roots"], dtype=np.int64),
        depth=int(d["depth"]),
        feature=np.asarray(d["feature"], dtype=np.int64),
        threshold=np.asarray(d["threshold"], dtype=np.float64),
        left=np.asarray(d["left"], dtype=np.int64),
        right=np.asarray(d["right"], dtype=np.int64),
        value=np.asarray(d["value"], dtype=np.float64),
    )


def load_model(path: Path) -> ScorerModel:
    """Read a scorer JSON; a feature the code no longer computes is a configuration error."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return ScorerModel(
            ranker=_trees(d["ranker"], path),
            answerable=_trees(d["answerable"], path),
            threshold=float(d["threshold"]),
            second_ratio=float(d["second_ratio"]),
            fingerprint=str(d["fingerprint"]),
        )
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the answer scorer {path}: {exc}") from exc


@cache
def default_model() -> ScorerModel:
    """The committed model, loaded on first use."""
    return load_model(Path(str(resources.files("rag.answer") / "scorer.json")))


@cache
def reader_model() -> ScorerModel:
    """The committed model over the span reader's columns too (rag.answer.span_reader)."""
    return load_model(Path(str(resources.files("rag.answer") / "scorer_reader.json")))

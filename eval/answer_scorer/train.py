"""Fit the sentence scorer on rows from `build.py`, pick the refusal threshold and the
second-quote rule on the dev sets' validation articles, and write rag/answer/scorer.json.

The model is gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier, the
`train` extra) exported as plain arrays that `rag.answer.scorer` evaluates with numpy. A
logistic regression (numpy) is fitted alongside for comparison: on the dev validation
articles it ranked sentences about as well but separated answerable from gold-removed
questions worse (balanced accuracy .794 vs .906 for the trees, first 6 row sets).

    nice -n 10 python -m eval.answer_scorer.train --rows ROWS [--ablate]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.features import FEATURES, READER_FEATURES

OUT = Path("rag/answer/scorer.json")
OUT_READER = Path("rag/answer/scorer_reader.json")
SMOOTH = 2  # threshold grid steps (0.01) each side averaged when choosing it
# Build sets the span reader did not train on (it trained on XQuAD/TyDi train).
READER_SETS = ("dev.", "cross.")
L2 = 1.0  # ridge on standardised weights (the logistic baseline)
# Trees: depth 4 x 100 rounds balanced .906 on dev validation; depth 6 x 200 .913 at 4x the
# size, so the smaller one ships.
# Ranking without the retrieval group raised validation top-1 .696 -> .724, but refusing
# without it lost balanced accuracy .893 -> .819 (ablation, 13 row sets): two models.
NOWHERE = FEATURES.index("q_numbers_nowhere")
RANKER_LEAVES_OUT = ("hit_rank_inv", "hit_score", "hit_dense")
TREES = {"max_depth": 4, "max_iter": 100, "learning_rate": 0.1, "min_samples_leaf": 40,
         "random_state": 0}
# Feature groups for the ablation (each dropped in turn).
GROUPS = {
    "cosine": ("cos", "cos_margin", "cos_rank_inv", "cos_x_overlap"),
    "overlap": ("overlap", "cos_x_overlap", "overlap_sub", "overlap_idf", "rare_match"),
    "new_share": ("new_share",),
    "answer_type": ("who_match", "when_match", "number_match", "where_match", "typed_mismatch",
                    "has_number", "has_date", "has_new_name", "has_full_name", "who_full_name"),
    "layout": ("is_title", "is_dateline", "is_byline", "short_no_end", "log_words"),
    "position": ("position", "first_in_doc"),
    "retrieval": ("hit_rank_inv", "hit_score", "hit_dense"),
    "language": ("same_lang",),
    "question_numbers": ("q_numbers_in_sentence", "q_numbers_nowhere"),
}


@dataclass
class Rows:
    x: np.ndarray
    y: np.ndarray
    rel: np.ndarray
    q: np.ndarray  # global question index per row
    meta: list[dict]  # per question: qid, group, mode, split, set


def load_rows(folder: Path) -> tuple[Rows, str]:
    xs, ys, rels, qs, meta, digest = [], [], [], [], [], hashlib.sha256()
    for npz in sorted(folder.glob("*.npz")):
        digest.update(npz.name.encode() + npz.read_bytes())
        d = np.load(npz)
        m = json.loads(npz.with_name(npz.name[: -len(".npz")] + ".meta.json").read_text())
        if tuple(m["features"]) != FEATURES:
            sys.exit(f"{npz}: built with other features; rebuild it")
        xs.append(d["x"]), ys.append(d["y"]), rels.append(d["rel"]), qs.append(d["q"] + len(meta))
        meta += m["questions"]
    rows = Rows(np.concatenate(xs), np.concatenate(ys), np.concatenate(rels), np.concatenate(qs), meta)
    return rows, digest.hexdigest()[:16]


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2, iters: int = 30) -> tuple[np.ndarray, ...]:
    """Newton steps on the L2-penalised log-likelihood of standardised features."""
    mean, std = x.mean(0), x.std(0)
    mean[0], std[0] = 0.0, 1.0  # bias column
    std[std < 1e-6] = 1.0
    z = (x - mean) / std
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return mean, std, w


def predict(x: np.ndarray, mean: np.ndarray, std: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(((x - mean) / std) @ w)))


def fit_trees(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**TREES).fit(x, y)


def export_trees(clf: Any) -> dict[str, Any]:
    """All trees as flat node arrays (children indices global); leaves have feature -1."""
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    for (tree,) in clf._predictors:
        base = len(feature)
        roots.append(base)
        for node in tree.nodes:
            leaf = bool(node["is_leaf"])
            feature.append(-1 if leaf else int(node["feature_idx"]))
            threshold.append(0.0 if leaf else float(node["num_threshold"]))
            left.append(0 if leaf else base + int(node["left"]))
            right.append(0 if leaf else base + int(node["right"]))
            value.append(round(float(node["value"]), 6) if leaf else 0.0)
    return {"base": float(np.ravel(clf._baseline_prediction)[0]), "roots": roots,
            "depth": int(TREES["max_depth"]), "feature": feature, "threshold": threshold,
            "left": left, "right": right, "value": value}


def per_question(rows: Rows, p: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Row indices of each question, best first."""
    order = np.lexsort((-p, rows.q))
    bounds = np.flatnonzero(np.diff(rows.q[order])) + 1
    return [(int(rows.q[g[0]]), g) for g in np.split(order, bounds) if len(g)]


def policy(
    rows: Rows, p: np.ndarray, thr: float, ratio: float, keep: set[int], p_ans: np.ndarray | None = None
) -> dict[str, float]:
    """What `compose` would do: refuse when no sentence's answerability (`p_ans`, default
    `p`) reaches `thr`, else quote the best-ranked sentence (by `p`) and the second when its
    score is >= ratio * the best's. Metrics as `jauap eval` counts them."""
    p_ans = p if p_ans is None else p_ans
    contains, prec, false_ref, ref_ok = [], [], [], []
    seen = set()
    for qi, g in per_question(rows, p):
        if qi not in keep:
            continue
        seen.add(qi)
        answerable = rows.meta[qi]["mode"] == "answerable"
        refuse = p_ans[g].max() < thr or rows.x[g[0], NOWHERE] == 1  # compose's explicit rule
        if not answerable:
            ref_ok.append(float(refuse))
            continue
        false_ref.append(float(refuse))
        if refuse:
            contains.append(0.0)
            continue
        chosen = [g[0]] + ([g[1]] if len(g) > 1 and p[g[1]] >= ratio * p[g[0]] else [])
        contains.append(float(rows.y[chosen].max()))
        prec.append(float(rows.rel[chosen].mean()))
    for qi in keep - seen:  # no candidate sentence at all: a refusal
        if rows.meta[qi]["mode"] == "answerable":
            false_ref.append(1.0)
            contains.append(0.0)
        else:
            ref_ok.append(1.0)
    mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
    return {"contains": mean(contains), "precision": mean(prec), "false_refusal": mean(false_ref),
            "refusal_acc": mean(ref_ok), "balanced": (mean(ref_ok) + 1 - mean(false_ref)) / 2}


def top1(rows: Rows, p: np.ndarray, keep: set[int]) -> float:
    """Share of answerable questions with a positive candidate whose best-scored one is positive."""
    hits = [rows.y[g[0]] for qi, g in per_question(rows, p)
            if qi in keep and rows.meta[qi]["mode"] == "answerable" and rows.y[g].max() > 0]
    return float(np.mean(hits)) if hits else float("nan")


def questions(rows: Rows, split: str | None = None, prefix: str = "") -> set[int]:
    """Questions of the split whose set is `prefix` or starts with `prefix` + "." ("dev"
    takes dev.en and dev.en-kk; "dev.en" only dev.en)."""
    return {i for i, m in enumerate(rows.meta)
            if (split is None or m["split"] == split)
            and (not prefix or m["set"] == prefix or m["set"].startswith(prefix.rstrip(".") + "."))}


def choose(
    rows: Rows, p: np.ndarray, keep: set[int], p_ans: np.ndarray | None = None
) -> tuple[float, float, dict]:
    """The threshold with the best balanced accuracy (answerable vs gold-removed questions),
    then the second-quote ratio with the best answer containment that costs at most .01 of
    citation precision against one quote (dev val, 13 sets: ratio .5 gave containment
    .654 -> .689 for precision .933 -> .926; ratio .3 .706 but .911)."""
    grid = [round(t, 3) for t in np.arange(0.02, 0.9, 0.01)]
    balanced = np.array([policy(rows, p, t, 2.0, keep, p_ans)["balanced"] for t in grid])
    # The best balanced accuracy averaged over +-SMOOTH grid steps, not the single best step:
    # the curve is flat near its top (reader scorer, dev val: .844-.855 over .08-.18) and a
    # lone peak sits where scores jitter between machines' int8 kernels. 2026-11-28: the
    # peak .12 (.855) left the sample corpus' "How many people attended the forum in
    # Almaty?" answered at exactly .120; the smoothed choice is .14 (.847 there). With the
    # second-stage reader (d0146bf7e601, scorer a5c347dc118b) it is .11 (balanced .862);
    # third stage with 7-bit int8 weights (e4f1a04717d0, scorer f26d3f950720) .13 (.855).
    smooth = np.convolve(balanced, np.ones(2 * SMOOTH + 1), "same") / np.convolve(
        np.ones(len(grid)), np.ones(2 * SMOOTH + 1), "same")
    thr = grid[int(np.argmax(smooth))]
    ratios = [2.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    scored = {r: policy(rows, p, thr, r, keep, p_ans) for r in ratios}
    ok = [r for r in ratios if scored[r]["precision"] >= scored[2.0]["precision"] - 0.01]
    ratio = max(ok, key=lambda r: scored[r]["contains"])
    return thr, ratio, scored[ratio]


def report(rows: Rows, p: np.ndarray, thr: float, ratio: float, p_ans: np.ndarray) -> None:
    for name in sorted({m["set"] for m in rows.meta}):
        for split in ("train", "val"):
            keep = questions(rows, split, name)
            if keep:
                r = policy(rows, p, thr, ratio, keep, p_ans)
                print(f"  {name:16} {split:5} n={len(keep):5} top1={top1(rows, p, keep):.3f} "
                      + " ".join(f"{k}={v:.3f}" for k, v in r.items()))


def ablate(rows: Rows, train: np.ndarray, keep: set[int]) -> None:
    """Validation top-1 and balanced accuracy of the trees with each feature group left out."""
    def score(cols: list[int]) -> tuple[float, float]:
        p = fit_trees(rows.x[train][:, cols], rows.y[train]).predict_proba(rows.x[:, cols])[:, 1]
        thr, _, _ = choose(rows, p, keep)
        return top1(rows, p, keep), policy(rows, p, thr, 2.0, keep)["balanced"]
    full = score(list(range(len(FEATURES))))
    print(f"ablation (val dev questions): all features top1={full[0]:.3f} balanced={full[1]:.3f}")
    for group, names in GROUPS.items():
        cols = [i for i, f in enumerate(FEATURES) if f not in names]
        t, b = score(cols)
        print(f"  without {group:16} top1={t:.3f} ({t - full[0]:+.3f}) balanced={b:.3f} ({b - full[1]:+.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--ablate", action="store_true")
    parser.add_argument("--reader", action="store_true",
                        help="with the span reader's columns (rows built with --reader): "
                             "trained on the sets the reader never saw, written to " + str(OUT_READER))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or (OUT_READER if args.reader else OUT)
    rows, data_fp = load_rows(args.rows)
    qsplit = np.array([rows.meta[q]["split"] for q in rows.q])
    train = qsplit == "train"
    if args.reader:  # the reader was trained on ../shared/evaldata/train: its rows are in-sample
        train &= np.array([rows.meta[q]["set"].startswith(READER_SETS) for q in rows.q])
    dev_val = questions(rows, "val", "dev.") | questions(rows, "val", "cross.")
    mean, std, w = fit(rows.x[train], rows.y[train])
    p_lr = predict(rows.x, mean, std, w)
    thr, ratio, chosen = choose(rows, p_lr, dev_val)
    print(f"logistic baseline: threshold {thr} ratio {ratio} on dev val: {chosen}")
    if args.ablate:
        ablate(rows, train, dev_val)
    used = [i for i, f in enumerate(FEATURES) if args.reader or f not in READER_FEATURES]
    every = used
    # With the reader's columns the ranker keeps the retrieval group: on the dev validation
    # articles (rows of `build --reader`, 2026-11-28) overall containment .678 -> .685 and
    # citation precision .853 -> .879 (kk top-1 .514 -> .568, ru-kk .393 -> .571).
    ranked = [i for i in used if args.reader or FEATURES[i] not in RANKER_LEAVES_OUT]
    answerable = fit_trees(rows.x[train][:, every], rows.y[train])
    ranker = fit_trees(rows.x[train][:, ranked], rows.y[train])
    p_ans = answerable.predict_proba(rows.x[:, every])[:, 1]
    p = ranker.predict_proba(rows.x[:, ranked])[:, 1]
    thr, ratio, chosen = choose(rows, p, dev_val, p_ans)
    print(f"rows {len(rows.y)} ({int(train.sum())} train), questions {len(rows.meta)}; "
          f"trees: threshold {thr} ratio {ratio} on dev val: {chosen}")
    report(rows, p, thr, ratio, p_ans)
    model = {
        "kind": "trees",
        "ranker": {"features": [FEATURES[i] for i in ranked], **export_trees(ranker)},
        "answerable": {"features": [FEATURES[i] for i in every], **export_trees(answerable)},
        "threshold": thr, "second_ratio": ratio,
        "validation": {k: round(v, 4) for k, v in chosen.items()},
        "data_fingerprint": data_fp,
        "training": {"sets": sorted({m["set"] for m in rows.meta}), "rows": int(len(rows.y)),
                     "questions": len(rows.meta), "split": "by article, 1 in 5 to validation",
                     "trees": TREES},
        "command": (f"nice -n 10 python -m eval.answer_scorer.build{' --reader' if args.reader else ''} "
                    f"--out ROWS && python -m eval.answer_scorer.train --rows ROWS"
                    f"{' --reader' if args.reader else ''}"),
    }
    body = json.dumps(model, ensure_ascii=False, sort_keys=True)
    model["fingerprint"] = hashlib.sha256(body.encode()).hexdigest()[:12]
    out.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size} bytes), fingerprint {model['fingerprint']}")
    from rag.answer.scorer import load_model

    loaded = load_model(out)
    diff = max(np.abs(loaded.ranker.probabilities(rows.x) - p).max(),
               np.abs(loaded.answerable.probabilities(rows.x) - p_ans).max())
    print(f"numpy inference vs scikit-learn: max |dp| = {diff:.2e}")


if __name__ == "__main__":
    main()

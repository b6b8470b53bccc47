"""A Markdown evaluation report with PNG charts (per-group bars, latency histogram)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.errors import require
from rag.eval.run import ANSWER_KEYS, RETRIEVAL_KEYS


def _table(summary: dict[str, Any], keys: tuple[str, ...]) -> str:
    rows = [*summary["groups"].items(), ("**overall**", summary["overall"])]
    head = "| group | n | " + " | ".join(keys) + " |\n|---|---:|" + "---:|" * len(keys)
    lines = [head]
    for name, s in rows:
        cells = ["–" if s.get(k) is None else f"{s[k]:.3f}" for k in keys]
        lines.append(f"| {name} | {s['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _bars(summary: dict[str, Any], keys: tuple[str, ...], title: str, out: Path) -> bool:
    matplotlib: Any = require("matplotlib", "report")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [g for g, s in summary["groups"].items() if any(s.get(k) is not None for k in keys)]
    if not groups:
        return False
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(groups) + 2), 4))
    width = 0.8 / len(keys)
    x = np.arange(len(groups))
    for i, key in enumerate(keys):
        vals = [summary["groups"][g].get(key) or 0.0 for g in groups]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=key)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, groups, rotation=20)
    ax.set_ylim(0, 1.25)
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=len(keys), loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def _latency(rows: list[dict[str, Any]], out: Path) -> bool:
    matplotlib: Any = require("matplotlib", "report")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {
        name: [r[field] for r in rows if field in r]
        for name, field in (("retrieval", "retrieval_ms"), ("answer", "answer_ms"))
    }
    series = {k: v for k, v in series.items() if v}
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, values in series.items():
        ax.hist(values, bins=30, alpha=0.6, label=f"{name} (n={len(values)})")
    ax.set_xlabel("milliseconds")
    ax.set_ylabel("questions")
    ax.set_title("Latency per question")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def write_report(summary: dict[str, Any], rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write report.md and its charts into `out_dir`; returns the Markdown path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = summary.get("config", {})
    parts = [
        "# jauap evaluation report",
        "",
        f"Questions: `{cfg.get('questions')}`; passages: {cfg.get('passages') or 'sample corpus'}; "
        f"embedder `{cfg.get('embedder')}`; generator `{cfg.get('generator')}`; k = {cfg.get('k')}.",
        "",
        "Groups are *question language → document language*.",
        "",
        "## Retrieval",
        "",
    ]
    if _bars(summary, ("hit@1", "hit@5", "mrr@10"), "Retrieval per group", out_dir / "retrieval.png"):
        parts += ["![retrieval per group](retrieval.png)", ""]
    parts += [_table(summary, RETRIEVAL_KEYS), ""]
    if any(summary["overall"].get(k) is not None for k in ANSWER_KEYS):
        parts += ["## Answers", ""]
        keys = ("answer_contains", "citation_precision", "supported_share")
        if _bars(summary, keys, "Answers per group", out_dir / "answers.png"):
            parts += ["![answers per group](answers.png)", ""]
        parts += [_table(summary, ANSWER_KEYS), ""]
    parts += ["## Latency", ""]
    if _latency(rows, out_dir / "latency.png"):
        parts += ["![latency histogram](latency.png)", ""]
    o = summary["overall"]
    for name in ("retrieval", "answer"):
        if o.get(f"{name}_p50_ms") is not None:
            parts.append(
                f"- {name}: p50 {o[f'{name}_p50_ms']:.1f} ms, p95 {o[f'{name}_p95_ms']:.1f} ms"
            )
    misses = [r for r in rows if r.get("hit@5") == 0.0 or r.get("answer_contains") == 0.0]
    if misses:
        parts += ["", "## Misses", "", "| id | group | retrieval hit@5 | answer contains gold |", "|---|---|---|---|"]
        for r in misses[:40]:
            parts.append(f"| {r['id']} | {r['group']} | {r.get('hit@5')} | {r.get('answer_contains')} |")
    path = out_dir / "report.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path

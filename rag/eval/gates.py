"""Regression gates: metric floors kept in one reviewed TOML file (eval/thresholds.toml).

Layout: one table per run and group, e.g. `[gold.overall]` or `[dev-kk."kk->kk"]`, each
mapping a metric name to its floor; a name ending in `_max` is a ceiling on the metric
without the suffix (`false_refusal_rate_max = 0.08`, `p95_ms_max = 100`). A missing metric
or group counts as a failure.

A floor on a group of fewer than MIN_GATED_QUESTIONS questions is itself a failure: there
one question moves a rate by more than 1/30, which is machine noise (ONNX int8 kernels
differ between CPUs: a fresh clone on an avx512_vnni EPYC failed gold en->kk, 9 questions,
.556 < .65 on one question). Small groups are gated through their run's overall figures."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from rag.errors import InputError

MIN_GATED_QUESTIONS = 30


def load_floors(path: Path, section: str) -> dict[str, dict[str, float]]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read thresholds {path}: {exc}") from exc
    if section not in data:
        raise InputError(f"{path} has no [{section}] section (have: {', '.join(data)})")
    return data[section]


def check_gates(summary: dict[str, Any], path: Path, section: str) -> list[str]:
    """Failures as readable lines; empty when every floor and ceiling holds."""
    return check_bounds(summary, load_floors(path, section), section)


def check_bounds(
    summary: dict[str, Any], bounds: dict[str, dict[str, float]], section: str
) -> list[str]:
    """`check_gates` on bounds already read (callers that check a subset of groups)."""
    failures = []
    for group, limits in bounds.items():
        actual = summary["overall"] if group == "overall" else summary["groups"].get(group)
        if actual is None:
            failures.append(f"[{section}] group {group!r} missing from the results")
            continue
        n = actual.get("n")
        if n is not None and n < MIN_GATED_QUESTIONS:
            failures.append(
                f"[{section}] group {group!r} has {n} questions: too few to carry a bound "
                f"(one question is {1 / n:.3f}); gate groups of >= {MIN_GATED_QUESTIONS}"
            )
            continue
        for key, bound in limits.items():
            ceiling = key.endswith("_max")
            metric = key[: -len("_max")] if ceiling else key
            kind = "ceiling" if ceiling else "floor"
            value = actual.get(metric)
            if value is None:
                failures.append(f"[{section}] {group} {metric}: no value ({kind} {bound})")
            elif value > bound if ceiling else value < bound:
                sign = ">" if ceiling else "<"
                failures.append(f"[{section}] {group} {metric} = {value:.3f} {sign} {kind} {bound}")
    return failures

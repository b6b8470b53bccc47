"""Regression gates: metric floors kept in one reviewed TOML file (eval/thresholds.toml).

Layout: one table per run and group, e.g. `[gold.overall]` or `[dev-kk."kk->kk"]`, each
mapping a metric name to its floor. A missing metric or group counts as a failure."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from rag.errors import InputError


def load_floors(path: Path, section: str) -> dict[str, dict[str, float]]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read thresholds {path}: {exc}") from exc
    if section not in data:
        raise InputError(f"{path} has no [{section}] section (have: {', '.join(data)})")
    return data[section]


def check_gates(summary: dict[str, Any], path: Path, section: str) -> list[str]:
    """Failures as readable lines; empty when every floor holds."""
    failures = []
    for group, floors in load_floors(path, section).items():
        actual = summary["overall"] if group == "overall" else summary["groups"].get(group)
        if actual is None:
            failures.append(f"[{section}] group {group!r} missing from the results")
            continue
        for metric, floor in floors.items():
            value = actual.get(metric)
            if value is None:
                failures.append(f"[{section}] {group} {metric}: no value (floor {floor})")
            elif value < floor:
                failures.append(f"[{section}] {group} {metric} = {value:.3f} < floor {floor}")
    return failures

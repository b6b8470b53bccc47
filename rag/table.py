"""Backends chosen by name from a plain table (embedders, generators, chat models)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from rag.errors import ConfigError

T = TypeVar("T")


def choose(table: Mapping[str, T], name: str, kind: str, also: str = "") -> T:
    """`table[name]`, or a ConfigError naming the unknown `kind`, the known names and
    `also` (what else is accepted)."""
    try:
        return table[name]
    except KeyError:
        known = ", ".join(table)
        raise ConfigError(f"unknown {kind} {name!r}: use one of {known}{also}") from None

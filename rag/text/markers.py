"""Citation markers in answer text: `[1]`, `[2, 3]`, `[1; 4]` — parsed in one place."""

from __future__ import annotations

import re

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# A marker with the spaces before it, for removing markers from running text.
_SPACED_MARKER = re.compile(r"\s*" + MARKER.pattern)


def marker_numbers(group: str) -> list[int]:
    """The numbers inside one marker's brackets ("2, 3" → [2, 3])."""
    return [int(n) for n in re.split(r"\s*[,;]\s*", group.strip())]


def parse_markers(text: str) -> list[int]:
    """All citation numbers in order of appearance (`[1]`, `[2, 3]`)."""
    return [n for m in MARKER.finditer(text) for n in marker_numbers(m.group(1))]


def strip_markers(text: str) -> str:
    """`text` without its markers (and the spaces before them)."""
    return _SPACED_MARKER.sub("", text)

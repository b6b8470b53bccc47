"""A model file's sha256 (for embedder fingerprints), kept beside the file so a process
start need not read the whole model again."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

# A fingerprint needs the model's sha256, and hashing the 120 MB int8 file cost every
# process start 0.09 s on a quiet machine with the file in the page cache (memory.py at
# 100k: index open 0.32 -> 0.23 s), 0.15-0.42 s on the busy shared cores (issue 14). The build writes the digest beside the file
# (<model>.sha256.json) with the file's size and mtime_ns; a start trusts it only when both
# still match, else hashes again (and rewrites it when the folder is writable).
HASH_SIDECAR_SUFFIX = ".sha256.json"


def _sidecar(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + HASH_SIDECAR_SUFFIX)


def _stamp(model_path: Path) -> dict[str, int]:
    st = os.stat(model_path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _hash_bytes(model_path: Path, recipe: str) -> str:
    """sha256 of the file's bytes followed by ``recipe`` (the fingerprint's formula)."""
    with open(model_path, "rb") as f:
        h = hashlib.file_digest(f, "sha256")
    h.update(recipe.encode())
    return h.hexdigest()


def write_hash_sidecar(
    model_path: Path, recipes: Sequence[str], known: dict[str, str] | None = None
) -> dict[str, str]:
    """Hash ``model_path`` once per recipe and record the digests (plus ``known`` ones of
    the same file) with its size and mtime_ns beside it (best effort: a read-only folder
    only loses the shortcut)."""
    model_path = Path(model_path)
    stamp = _stamp(model_path)
    digests = {r: _hash_bytes(model_path, r) for r in recipes}
    record = {**stamp, "digests": {**(known or {}), **digests}}
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sha256.", suffix=".json", dir=model_path.parent)
    except OSError:
        return digests
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        os.chmod(tmp, 0o644)  # mkstemp files are 0600
        os.replace(tmp, _sidecar(model_path))
    except OSError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)
    return digests


def model_digest(model_path: Path, recipe: str) -> str:
    """The digest of ``model_path``'s bytes + ``recipe``: read from the sidecar when its
    size and mtime_ns match the file now, else computed (and the sidecar rewritten)."""
    model_path = Path(model_path)
    known: dict[str, str] = {}
    try:
        record = json.loads(_sidecar(model_path).read_text("utf-8"))
        stamp = _stamp(model_path)
        if record.get("size") == stamp["size"] and record.get("mtime_ns") == stamp["mtime_ns"]:
            known = {k: v for k, v in record["digests"].items() if isinstance(v, str)}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass
    if recipe in known:
        return known[recipe]
    return write_hash_sidecar(model_path, [recipe], known)[recipe]

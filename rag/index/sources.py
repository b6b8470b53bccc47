"""Which files an index was built from, as they were on disk (size, mtime, ctime, inode),
so re-indexing an unchanged folder is decided without loading the index.

`jauap index` on an unchanged folder used to load the whole previous index (every chunk,
vector and the BM25 arrays) and hash every file before finding nothing to do: 18.7 s at
100k chunks. Now a run first compares the folder's file states with `sources.json` in the
current generation, written after the run that built it; when every file and every file
of the generation itself is as recorded, the run ends there.

Safety: a file changed between our stat and our read of it could keep its mtime when
both fall in one timestamp tick, so entries whose mtime or ctime is within `RACY_NS` of
the moment they were taken are recorded as never matching (git's "racy" rule); ctime,
which no tool sets back, catches a file replaced by a copy with the old mtime. A damaged
generation file has another size or mtime (or is gone), so the run takes the full path,
which finds the damage and rebuilds, as before.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.index import generations as gens
from rag.index import store
from rag.ingest.documents import doc_id_for

SOURCES = "sources.json"
# FAT keeps mtimes to 2 s; ext4/tmpfs to a clock tick: 2 s covers every file system.
RACY_NS = 2_000_000_000

State = list[int]  # size, mtime_ns, ctime_ns, inode


def scan(paths: Iterable[Path], suffixes: Iterable[str]) -> list[str] | None:
    """Every file `rag.ingest.documents.discover` would yield under `paths` with one of
    `suffixes` (hidden names skipped, linked folders not entered), and links it would
    skip: a superset, so equal states prove that nothing changed. One os.scandir pass:
    discover's sorted pathlib walk took 3.0 s for 20k files, this 0.1 s. None when a
    path is missing (the full run says so)."""
    wanted = {s.lower() for s in suffixes}
    out: list[str] = []
    for root in paths:
        root_s = os.fspath(root)
        if os.path.isfile(root_s):
            out.append(root_s)
            continue
        if not os.path.isdir(root_s):
            return None
        for folder, dirs, names in os.walk(root_s):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            out.extend(
                os.path.join(folder, n) for n in names
                if not n.startswith(".") and os.path.splitext(n)[1].lower() in wanted
                and os.path.isfile(os.path.join(folder, n))
            )
    return out


def file_states(files: Iterable[Path | str]) -> dict[str, State]:
    """Absolute path -> state of each file, taken before any is read. A racy entry (see
    the module docstring) gets mtime -1, so it never matches a later state."""
    now = time.time_ns()
    out: dict[str, State] = {}
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            continue  # gone: the run itself reports it
        racy = max(st.st_mtime_ns, st.st_ctime_ns) >= now - RACY_NS
        out[os.path.abspath(path)] = [st.st_size, -1 if racy else st.st_mtime_ns,
                                      st.st_ctime_ns, st.st_ino]
    return out


def _own_files(gen: Path) -> dict[str, State]:
    """The generation's own files (not dotfiles, not sources.json): size and mtime."""
    out = {}
    for folder, _, names in os.walk(gen):
        for name in names:
            if name.startswith(".") or name == SOURCES:
                continue
            path = Path(folder) / name
            st = path.stat()
            out[str(path.relative_to(gen))] = [st.st_size, st.st_mtime_ns]
    return out


def record(index_dir: Path, states: dict[str, State], doc_ids: Iterable[str]) -> None:
    """Write `sources.json` into the current generation: the states of the files whose
    documents are in the index (a refused file is left out, so the next run reads it
    again and says why). The caller holds the writer lock."""
    index_dir = Path(index_dir)
    name = gens.current_name(index_dir)
    if name is None:
        return
    gen = index_dir / name
    keep = set(doc_ids)
    files = {p: s for p, s in states.items() if doc_id_for(Path(p)) in keep}
    tmp = gen / f".{SOURCES}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        json.dump({"format": 1, "files": files, "own": _own_files(gen)}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, gen / SOURCES)
    gens.fsync_path(gen)


def _same(gen: Path, index_dir: Path, states: dict[str, State], fingerprint: str,
          chunking: dict) -> store.Manifest | None:
    manifest = store.load_manifest_of(gen, index_dir)
    if manifest.fingerprint != fingerprint or manifest.chunking != chunking:
        return None
    try:
        raw = json.loads((gen / SOURCES).read_text(encoding="utf-8"))
        same = raw["format"] == 1 and raw["files"] == states and raw["own"] == _own_files(gen)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest if same and manifest.documents == len(states) else None


def unchanged(index_dir: Path, states: dict[str, State], fingerprint: str,
              chunking: dict) -> store.Manifest | None:
    """The current manifest when the index was built, with this embedder and chunking,
    from exactly these files as they are now; None when anything differs or is damaged
    (then the full run decides)."""
    index_dir = Path(index_dir)
    if not states or any(s[1] < 0 for s in states.values()):  # empty, or racy entries
        return None
    try:
        if not store.exists(index_dir):
            return None
        return gens.with_generation(
            index_dir, lambda gen: _same(gen, index_dir, states, fingerprint, chunking)
        )
    except (IndexCorruptError, IndexMismatchError, IndexMissingError):
        return None

"""A process that re-indexes (writer) or loads (reader) one index in a loop for a bounded
time and prints one JSON line of counts. Run by tests/reliability/test_rel_concurrent_index.py
and eval/bench/concurrent_index.py; it uses only APIs older versions also have, so the
benchmark can measure them too.

    python tests/reliability/index_worker.py writer|reader DOCS INDEX SECONDS ID
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _rewrite(path: Path, text: str) -> None:
    """Replace a document atomically, so the other writer never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _generation_complete(index_dir: Path) -> bool:
    """Whether CURRENT names a generation with its manifest (the last file written). A
    generation deleted after CURRENT moved on is a race of this check, not a broken state."""
    pointer = index_dir / "CURRENT"
    for _ in range(10):
        name = pointer.read_text(encoding="utf-8").strip()
        if (index_dir / name / "manifest.json").is_file():
            return True
        if pointer.read_text(encoding="utf-8").strip() == name:
            return False
    return True


def writer(docs: Path, index_dir: Path, seconds: float, ident: str) -> dict:
    from rag.index.embedders import FakeEmbedder
    from rag.index.indexer import index_paths
    from rag.ingest.chunking import ChunkSettings

    embedder, chunking = FakeEmbedder(), ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=10)
    runs, errors, messages = 0, 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _rewrite(
            docs / f"writer-{ident}.txt",
            f"Жазушы {ident} нұсқасы {runs}. Индекс қайта жасалды.\n\n"
            f"Writer {ident} version {runs} rebuilt the index at {time.time():.3f}.",
        )
        try:
            index_paths([docs], index_dir, embedder, chunking, rebuild=runs % 3 == 2)
            runs += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors += 1
            messages.append(f"{type(exc).__name__}: {exc}"[:300])
    return {"role": "writer", "runs": runs, "errors": errors, "messages": messages[:5]}


def reader(index_dir: Path, seconds: float) -> dict:
    from rag.index import store

    loads, failures, broken, messages = 0, 0, 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = store.load(index_dir)
            consistent = (
                len(data.chunks) == len(data.vectors) == len(data.bm25) == data.ann.ntotal
                and len(data.sentence_vectors) == len(data.sentence_keys)
                and all(c.doc_id in data.docs for c in data.chunks)
            )
            loads += 1
            if not consistent:
                broken += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            failures += 1
            messages.append("".join(traceback.format_exception_only(exc)).strip()[:300])
        try:
            if not _generation_complete(index_dir):
                broken += 1
                messages.append("CURRENT names a generation without manifest.json")
        except OSError as exc:
            broken += 1
            messages.append(f"CURRENT unreadable: {exc}")
    return {"role": "reader", "loads": loads, "failures": failures, "broken": broken,
            "messages": messages[:5]}


def run_mixed(
    docs: Path, index_dir: Path, writers: int, readers: int, seconds: float,
    code: Path | None = None,
) -> list[dict]:
    """Start `writers` writer and `readers` reader processes on one index (which must
    exist) for `seconds`; their results. `code`: another checkout's rag package to run."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (code, ROOT) if p)
    roles = ["writer"] * writers + ["reader"] * readers
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, role, str(docs),
             str(index_dir), str(seconds), str(i)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i, role in enumerate(roles)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 120)
        lines = out.strip().splitlines()
        if proc.returncode != 0 or not lines:
            results.append({"role": "crashed", "errors": 1, "messages": [err[-500:]]})
        else:
            results.append(json.loads(lines[-1]))
    return results


def main() -> None:
    role, docs, index_dir, seconds, ident = sys.argv[1:6]
    if role == "writer":
        result = writer(Path(docs), Path(index_dir), float(seconds), ident)
    else:
        result = reader(Path(index_dir), float(seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

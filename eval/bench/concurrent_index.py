"""Concurrent indexing check: readers loading one index in a loop while writers re-index
it (the fake embedder), for a bounded time. Prints counts; it is not a test.

    python eval/bench/concurrent_index.py [--seconds 20] [--writers 2] [--readers 3] [--code DIR]

--code DIR runs another checkout's `rag` package (e.g. an older commit unpacked with
`git archive COMMIT | tar -x -C DIR`), for before/after. A failed load is any exception
from `store.load`; a broken state is CURRENT naming a generation without manifest.json
or a load whose parts disagree in length. Workers: tests/reliability/index_worker.py.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--code", type=Path, help="a checkout whose rag package to run")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    sys.path.insert(1 if args.code else 0, str(ROOT))
    from rag.index.embedders import FakeEmbedder
    from rag.index.indexer import index_paths
    from rag.ingest.chunking import ChunkSettings
    from rag.settings import SAMPLE_CORPUS
    from tests.reliability.index_worker import run_mixed

    with tempfile.TemporaryDirectory(prefix="jauap-concurrent-") as tmp:
        docs, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        shutil.copytree(SAMPLE_CORPUS, docs)
        index_paths([docs], index_dir, FakeEmbedder(), ChunkSettings(60, 20, 10))
        results = run_mixed(docs, index_dir, args.writers, args.readers, args.seconds, args.code)
    writers = [r for r in results if r["role"] == "writer"]
    readers = [r for r in results if r["role"] == "reader"]
    crashed = [r for r in results if r["role"] == "crashed"]
    print(f"{args.writers} writers, {args.readers} readers, {args.seconds:g} s")
    print(
        f"writer runs {sum(w['runs'] for w in writers)}, writer errors "
        f"{sum(w['errors'] for w in writers)}; loads {sum(r['loads'] for r in readers)}, "
        f"failed loads {sum(r['failures'] for r in readers)}, broken states "
        f"{sum(r['broken'] for r in readers)}; crashed workers {len(crashed)}"
    )
    for r in results:
        for message in r.get("messages", [])[:2]:
            print(f"  {r['role']}: {message}")


if __name__ == "__main__":
    main()

"""Indexing speed against the raw model, and the time to re-index an unchanged folder.

    python eval/bench/index_speed.py [--limit 120] [--langs kk,ru] [--embedder NAME]
        [--repeats 3] [--reindex-chunks 10000,100000] [--json OUT] [--gate]

1. Real dev passages (--limit of them, languages interleaved) are written as .txt files
   (title line, blank line, text) and indexed by `index_paths` with no vector cache. The
   same passages ("title\\ntext") are embedded by the raw model, `embed_passages` in
   length-sorted batches of 64 as the indexer batches, once before and once after the
   index build (the faster run counts; both are printed: the same-run baseline).
   `index_vs_raw` = raw seconds / index seconds is issue 14's "indexing runs at X of the
   raw model's throughput" (goal >= 0.9); the indexer also embeds each sentence again,
   which `model_tokens_per_text_token` shows.
2. `index_paths` again on the unchanged folder (--repeats runs, median).
3. With --reindex-chunks: folders of about N chunks made of copies of every dev passage
   (copy c's title line gets " #c", so all chunks differ), built once with the `fake`
   embedder (an unchanged re-index embeds nothing, so the model doesn't matter), then the
   unchanged re-index timed as in 2. Issue 14's goal: <= 2 s at 100k chunks.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import dev_passages, finish, load_embedder, machine, parser  # noqa: E402

from rag.index import store  # noqa: E402
from rag.index.embedders import FakeEmbedder  # noqa: E402
from rag.index.indexer import index_paths  # noqa: E402
from rag.ingest.chunking import ChunkSettings, chunk_document  # noqa: E402
from rag.ingest.documents import discover, file_hash  # noqa: E402
from rag.protocols import Embedder  # noqa: E402
from rag.records import Document  # noqa: E402


def write_files(docs: Sequence[Document], folder: Path, copy: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, d in enumerate(docs):
        title = f"{d.title or d.doc_id}{f' #{copy}' if copy else ''}"
        (folder / f"{copy:04d}_{i:05d}.txt").write_text(f"{title}\n\n{d.text}\n", encoding="utf-8")


def raw_seconds(embedder: Embedder, texts: Sequence[str], batch: int = 64) -> float:
    ordered = sorted(texts, key=len)
    started = time.perf_counter()
    for i in range(0, len(ordered), batch):
        embedder.embed_passages(ordered[i : i + batch])
    return time.perf_counter() - started


def reindex_runs(folder: Path, index_dir: Path, embedder: Embedder, repeats: int) -> dict[str, Any]:
    """Unchanged re-index runs, then its two big steps timed alone: reading the previous
    index (`store.load`) and scanning and hashing the files."""
    runs = [index_paths([folder], index_dir, embedder, ChunkSettings(), cache=None) for _ in range(repeats)]
    started = time.perf_counter()
    store.load(index_dir)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    for path in discover([folder]):
        file_hash(path)
    return {"reindex_s": statistics.median(r.seconds for r in runs),
            "reindex_runs_s": [round(r.seconds, 3) for r in runs],
            "reindex_embedded": max(r.embedded_chunks + r.embedded_sentences for r in runs),
            "store_load_s": load_s, "scan_hash_s": time.perf_counter() - started}


def speed(embedder: Embedder, docs: list[Document], repeats: int) -> dict[str, Any]:
    """Part 1 and 2 of the module docstring."""
    texts = [f"{d.title}\n{d.text}" if d.title else d.text for d in docs]
    cap = getattr(embedder, "max_tokens", None) or 10**9
    text_tokens = sum(min(cap, embedder.count_tokens(t)) for t in texts)
    embedder.embed_passages(["warm-up", "разминка", "жылдам"])  # sessions start lazily
    with tempfile.TemporaryDirectory(prefix="jauap-bench-speed-") as tmp:
        folder, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        write_files(docs, folder)
        raw = [raw_seconds(embedder, texts)]
        report = index_paths([folder], index_dir, embedder, ChunkSettings(), cache=None)
        raw.append(raw_seconds(embedder, texts))
        again = reindex_runs(folder, index_dir, embedder, repeats)
    raw_s, n = min(raw), len(docs)
    return {
        "passages": n, "chunks": report.chunks, "embedded_chunks": report.embedded_chunks,
        "embedded_sentences": report.embedded_sentences, "text_tokens": text_tokens,
        "embedded_tokens": report.embedded_tokens,
        "raw_s": raw_s, "raw_runs_s": [round(s, 3) for s in raw],
        "raw_passages_per_s": n / raw_s, "raw_tokens_per_s": text_tokens / raw_s,
        "index_s": report.seconds, "index_embed_s": report.embed_seconds,
        "index_passages_per_s": n / report.seconds,
        "index_model_tokens_per_s": report.embedded_tokens / report.seconds,
        "model_tokens_per_text_token": report.embedded_tokens / max(1, text_tokens),
        "index_vs_raw": raw_s / report.seconds,
        **again,
    }


def reindex_at(chunks: int, pool: list[Document], repeats: int) -> dict[str, Any]:
    """Part 3: an unchanged re-index of a folder of about `chunks` chunks (fake embedder)."""
    fake = FakeEmbedder()
    per_doc = [len(chunk_document(d, fake.count_tokens, ChunkSettings())) for d in pool]
    with tempfile.TemporaryDirectory(prefix="jauap-bench-reindex-") as tmp:
        folder, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        total, copy = 0, 0
        while total < chunks:
            take = []
            for d, c in zip(pool, per_doc, strict=True):
                if total >= chunks:
                    break
                take.append(d)
                total += c
            write_files(take, folder, copy)
            copy += 1
        first = index_paths([folder], index_dir, fake, ChunkSettings(), cache=None)
        disk = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
        out = {"documents": first.documents, "chunks": first.chunks, "first_build_s": first.seconds,
               "index_disk_mb": disk / 2**20, **reindex_runs(folder, index_dir, fake, repeats)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=120, help="dev passages to index (0 = all)")
    ap.add_argument("--langs", default="kk,ru", help="pools to take passages from (kk,ru,en)")
    ap.add_argument("--repeats", type=int, default=3, help="unchanged re-index runs (median)")
    ap.add_argument("--reindex-chunks", default="", help="sizes for part 3, e.g. 10000,100000")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    summary: dict[str, Any] = {"machine": machine(), "embedder": args.embedder, "groups": {}}
    print(f"index_speed: embedder {args.embedder}, load average {summary['machine']['loadavg']} "
          f"on {summary['machine']['cpus']} CPUs")
    embedder = load_embedder(args.embedder)
    docs = dev_passages(args.evaldata, args.limit, args.langs.split(","))
    o = summary["overall"] = speed(embedder, docs, max(1, args.repeats))
    print(f"  {o['passages']} real passages ({args.langs}), {o['text_tokens']} model tokens of text "
          f"-> {o['chunks']} chunks; embedded {o['embedded_chunks']} chunks + "
          f"{o['embedded_sentences']} sentences = {o['embedded_tokens']} model tokens "
          f"({o['model_tokens_per_text_token']:.2f} per text token)")
    print(f"  raw model: {o['raw_passages_per_s']:.1f} passages/s, {o['raw_tokens_per_s']:.0f} tokens/s "
          f"(runs before/after the index build: {o['raw_runs_s']} s)")
    print(f"  indexing:  {o['index_passages_per_s']:.1f} passages/s, {o['index_model_tokens_per_s']:.0f} "
          f"model tokens/s; {o['index_s']:.2f} s of which embedding {o['index_embed_s']:.2f} s")
    print(f"  index_vs_raw (raw s / index s) = {o['index_vs_raw']:.2f}")
    print(f"  unchanged re-index: median {o['reindex_s']:.3f} s {o['reindex_runs_s']}, "
          f"embedded {o['reindex_embedded']}; alone: store.load {o['store_load_s']:.3f} s, "
          f"scan+hash {o['scan_hash_s']:.3f} s")
    sizes = [int(s.replace("_", "")) for s in args.reindex_chunks.split(",") if s.strip()]
    pool = dev_passages(args.evaldata) if sizes else []
    for n in sizes:
        g = summary["groups"][str(n)] = reindex_at(n, pool, max(1, args.repeats))
        print(f"  ~{n} chunks (copies of {len(pool)} dev passages, fake embedder): {g['documents']} "
              f"files, {g['chunks']} chunks, {g['index_disk_mb']:.0f} MiB; first build "
              f"{g['first_build_s']:.1f} s; unchanged re-index median {g['reindex_s']:.2f} s "
              f"{g['reindex_runs_s']}, embedded {g['reindex_embedded']}; alone: store.load "
              f"{g['store_load_s']:.2f} s, scan+hash {g['scan_hash_s']:.2f} s")
    return finish("index_speed", summary, args, started)


if __name__ == "__main__":
    sys.exit(main())

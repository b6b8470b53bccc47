"""Shared helpers of the benchmark scripts in eval/bench/: options, real text from the dev
pools, the synthetic-index method, timing/memory figures, and the target check
(eval/bench/targets.toml through rag.eval.gates, so targets read like the eval gates)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python eval/bench/x.py` from a checkout
    sys.path.insert(0, str(ROOT))

from rag.eval.gates import check_bounds, load_floors  # noqa: E402
from rag.eval.metrics import percentile  # noqa: E402
from rag.eval.sets import load_passages  # noqa: E402
from rag.index import store  # noqa: E402
from rag.index.embedders import make_embedder  # noqa: E402
from rag.index.indexer import IndexReport, index_documents, text_key  # noqa: E402
from rag.index.vector_cache import VectorCache  # noqa: E402
from rag.protocols import Embedder  # noqa: E402
from rag.records import Document  # noqa: E402
from rag.settings import DEFAULT_EMBEDDER, Settings  # noqa: E402
from rag.text.sentences import split  # noqa: E402

EVALDATA = ROOT.parent / "shared" / "evaldata"
TARGETS = Path(__file__).with_name("targets.toml")
POOLS = {"kk": "kazqad.kk.passages.jsonl", "ru": "xquad.ru.passages.jsonl", "en": "xquad.en.passages.jsonl"}


def parser(doc: str) -> argparse.ArgumentParser:
    """Options every script has: embedder, data folder, JSON output, targets and --gate."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="embedder name; `fake` for smoke runs")
    ap.add_argument("--evaldata", type=Path, default=EVALDATA, help="the dev pools (default %(default)s)")
    ap.add_argument("--json", type=Path, dest="json_out", metavar="OUT", help="write the figures here")
    ap.add_argument("--targets", type=Path, default=TARGETS, help="targets file (default %(default)s)")
    ap.add_argument("--gate", action="store_true", help="exit 1 when a measured target is missed")
    return ap


def load_embedder(name: str) -> Embedder:
    return make_embedder(Settings.from_env().with_(embedder=name))


def stats_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """n, p50, p95 (nearest rank, as `jauap eval`), mean and max, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "max": None}
    return {"n": len(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95),
            "mean": sum(ms) / len(ms), "max": max(ms)}


def memory_mb() -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of this process, MiB, from /proc."""
    out = {"rss_mb": float("nan"), "hwm_mb": float("nan")}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss_mb" if key == "VmRSS" else "hwm_mb"] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return out


def machine() -> dict[str, Any]:
    """What the figures were measured on; the load average tells a busy shared box."""
    import faiss

    return {"cpus": os.cpu_count(), "loadavg": round(os.getloadavg()[0], 2),
            "nice": os.nice(0), "faiss_threads": faiss.omp_get_max_threads(),
            "python": platform.python_version(), "versions": store.package_versions()}


def dev_passages(evaldata: Path, limit: int = 0, langs: Sequence[str] = ("kk", "ru", "en")) -> list[Document]:
    """Real dev passages, languages interleaved (kk, ru, en, kk, ...); `limit` 0 = all."""
    by_lang = [load_passages([Path(evaldata) / POOLS[lang]]) for lang in langs]
    out: list[Document] = []
    for i in range(max(len(rows) for rows in by_lang)):
        out.extend(rows[i] for rows in by_lang if i < len(rows))
    return out[:limit] if limit else out


def dev_questions(evaldata: Path, n: int, seed: int = 0) -> list[str]:
    """`n` distinct real dev questions (all languages), a seeded sample."""
    path = Path(evaldata) / "dev.questions.jsonl"
    with path.open(encoding="utf-8") as f:
        qs = list(dict.fromkeys(json.loads(line)["question"].strip() for line in f if line.strip()))
    return random.Random(seed).sample(qs, min(n, len(qs)))


class PooledEmbedder:
    """The synthetic-index method. Sentences are real (from the dev pools) and get the
    real model's vectors, embedded once and kept in the vector cache; a chunk's vector is
    the normalised mean of its sentences' vectors instead of a model pass, so 100k-chunk
    indexes build in minutes. Queries are embedded by the real model. The fingerprint is
    the model's own, so the serving path (`open_assistant`) opens these bench indexes."""

    def __init__(self, inner: Embedder, cache: VectorCache | None = None) -> None:
        self.inner, self.cache = inner, cache
        self.name, self.dim = inner.name, inner.dim
        self.known: dict[str, np.ndarray] = {}
        self.model_texts = 0  # texts the model really embedded (cache misses)

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def prepare(self, sentences: Sequence[str], batch: int = 64) -> None:
        """Real vectors for `sentences` not yet known: from the cache, else the model."""
        todo = list(dict.fromkeys(s for s in sentences if s not in self.known))
        if self.cache is not None and todo:
            hit = self.cache.get_many(text_key(s) for s in todo)
            for s in todo:
                if text_key(s) in hit:
                    self.known[s] = hit[text_key(s)]
            todo = [s for s in todo if s not in self.known]
        todo.sort(key=len)  # similar lengths per batch, as the indexer does
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            vecs = self.inner.embed_passages(part)
            self.known.update(zip(part, vecs, strict=True))
            if self.cache is not None:
                self.cache.put_many({text_key(s): v for s, v in zip(part, vecs, strict=True)})
        self.model_texts += len(todo)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        # The indexer passes "title\ntext"; the synthetic titles carry no meaning: drop them.
        parts = [split(t.split("\n", 1)[-1]) or [t] for t in texts]
        self.prepare([s for p in parts for s in p])
        out = np.stack([np.mean([self.known[s] for s in p], axis=0) for p in parts])
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def real_sentences(evaldata: Path, embedder: Embedder, max_tokens: int) -> dict[str, list[str]]:
    """Sentences of the dev passages per language, 20+ characters and under `max_tokens`."""
    out: dict[str, list[str]] = {}
    for doc in dev_passages(evaldata):
        out.setdefault(doc.lang, []).extend(
            s for s in split(doc.text)
            if len(s) >= 20 and "\n" not in s and embedder.count_tokens(s) < max_tokens
        )
    return out


def synthetic_documents(
    n: int, sentences: dict[str, list[str]], count_tokens: Any, budget: int, seed: int = 0
) -> list[Document]:
    """`n` one-chunk documents, languages round-robin; each is real sentences of one
    language drawn at random (seeded) until `budget` tokens. Titles are unique ids, so
    every sentence vector is stored per document, as in a real index."""
    rng = random.Random(seed)
    langs = sorted(sentences)
    tokens = {lang: [count_tokens(s) for s in sentences[lang]] for lang in langs}
    docs = []
    for i in range(n):
        lang = langs[i % len(langs)]
        picked: list[str] = []
        used = 0
        while True:
            j = rng.randrange(len(sentences[lang]))
            if picked and used + tokens[lang][j] > budget:
                break
            picked.append(sentences[lang][j])
            used += tokens[lang][j]
        doc_id = f"syn-{lang}-{i:07d}"
        docs.append(Document(doc_id, f"synthetic/{doc_id}", doc_id, lang, " ".join(picked), doc_id))
    return docs


def build_synthetic(
    n: int, index_dir: Path, embedder: Embedder, evaldata: Path, seed: int = 0
) -> tuple[IndexReport, PooledEmbedder]:
    """An index of about `n` chunks at `index_dir` through the real indexer, by the method
    of `PooledEmbedder` and `synthetic_documents` (chunks hold ~0.8 of the chunk budget)."""
    settings = Settings.from_env()
    cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
    pooled = PooledEmbedder(embedder, cache)
    budget = int(settings.chunking.max_tokens * 0.8)
    pool = real_sentences(evaldata, embedder, budget // 2)
    docs = synthetic_documents(n, pool, embedder.count_tokens, budget, seed)
    try:
        report = index_documents(docs, index_dir, pooled, settings.chunking, cache=None)
    finally:
        cache.close()
    return report, pooled


def check_targets(name: str, summary: dict[str, Any], path: Path) -> tuple[list[dict], list[str]]:
    """One row per target in section `name` (value, bound, verdict); groups (sizes) this
    run did not measure are listed as not measured, not as failures."""
    rows, failures = [], []
    for group, bounds in load_floors(path, name).items():
        actual = summary["overall"] if group == "overall" else summary["groups"].get(group)
        for key, bound in bounds.items():
            metric = key.removesuffix("_max")
            sign = "<=" if key.endswith("_max") else ">="
            if actual is None:
                rows.append({"group": group, "metric": metric, "value": None, "target": f"{sign} {bound}", "verdict": "not measured"})
                continue
            failed = check_bounds(summary, {group: {key: bound}}, name)
            failures += failed
            rows.append({"group": group, "metric": metric, "value": actual.get(metric),
                         "target": f"{sign} {bound}", "verdict": "MISSES" if failed else "meets"})
    return rows, failures


def finish(name: str, summary: dict[str, Any], args: argparse.Namespace, started: float) -> int:
    """Print the targets table, write --json, return the exit code (1 on a miss with --gate)."""
    rows, failures = check_targets(name, summary, args.targets)
    summary["targets"] = rows
    summary["machine_end"] = machine()
    summary["seconds"] = time.perf_counter() - started
    print(f"\ntargets ({args.targets.name} [{name}]):")
    for r in rows:
        value = "-" if r["value"] is None else f"{r['value']:.3f}"
        print(f"  {r['group']:>8}  {r['metric']:28} {value:>10}  {r['target']:>10}  {r['verdict']}")
    print(f"total {summary['seconds']:.1f} s; load average {summary['machine']['loadavg']} at "
          f"start, {summary['machine_end']['loadavg']} at end")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(summary, ensure_ascii=False, indent=1, default=str), "utf-8")
        print(f"wrote {args.json_out}")
    return 1 if args.gate and failures else 0

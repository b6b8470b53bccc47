"""Benchmark: does ingest and indexing time grow linearly with the input? Prints figures;
it is not a test.

    python eval/bench/ingest_scale.py [--sizes 1,10,50] [--embedder NAME] [--split-only]

For each size (MB of UTF-8 text in ONE .txt file, the hostile case: a single huge
document) it prints, each measured in a fresh child process so peak memory is per size:
  split   `split_spans` over the clean text alone (the step that was quadratic)
  load    `load_document` (read, decode, clean, language, date)
  index   `index_paths` into a new index, no vector cache
  rss     peak resident memory of the child (resource.getrusage ru_maxrss)

The 1 MB line uses the embedder given by --embedder (default: the real default model);
larger sizes use the deterministic `fake` embedder so the model's cost doesn't dominate
what this measures (the work around the model). The text is sentences of the sample
corpus (Russian and Kazakh news) with one word swapped per sentence from the corpus
vocabulary, so sentences are mostly distinct, as in real text.

The default IngestLimits refuse a file of more than 10 M characters (about 20 MB of
Cyrillic text); to measure the larger sizes this script raises the limits to fit
(`--default-limits` keeps them, and shows the refusal and what it costs).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rag.settings import DEFAULT_EMBEDDER, SAMPLE_CORPUS, Settings  # noqa: E402
from rag.text.sentences import split  # noqa: E402


def synthetic_text(megabytes: float, seed: int = 0) -> str:
    """About `megabytes` MB (UTF-8) of paragraphs built from the sample corpus."""
    sentences = []
    for path in sorted(SAMPLE_CORPUS.glob("*.txt")):
        sentences.extend(s for s in split(path.read_text(encoding="utf-8")) if len(s) > 20)
    vocab = sorted({w for s in sentences for w in s.split() if w.isalpha()})
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    parts: list[str] = []
    size = 0
    while size < target:
        paragraph = []
        for _ in range(rng.randint(3, 8)):
            words = rng.choice(sentences).split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            paragraph.append(" ".join(words))
        block = " ".join(paragraph) + "\n\n"
        parts.append(block)
        size += len(block.encode("utf-8"))
    return "".join(parts)


def measure_one(megabytes: float, embedder_name: str, split_only: bool, default_limits: bool) -> dict:
    """Run in a child process: time each stage on one synthetic file of `megabytes` MB."""
    from rag.errors import InputError
    from rag.index.embedders import make_embedder
    from rag.index.indexer import index_paths
    from rag.ingest.chunking import ChunkSettings
    from rag.ingest.documents import load_document
    from rag.ingest.readers import IngestLimits
    from rag.text.sentences import split_spans

    size = int(megabytes * 1_100_000)
    limits = IngestLimits() if default_limits else IngestLimits(max_file_bytes=size, max_text_chars=size)
    out: dict = {"mb": megabytes, "embedder": embedder_name}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        path = folder / "big.txt"
        path.write_text(synthetic_text(megabytes), encoding="utf-8")
        out["bytes"] = path.stat().st_size
        started = time.perf_counter()
        try:
            doc = load_document(path, limits)
        except InputError as exc:
            out["refused"] = str(exc).replace(str(path), "big.txt")
            out["load_s"] = time.perf_counter() - started
            out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            return out
        out["load_s"] = time.perf_counter() - started
        out["chars"] = len(doc.text)
        started = time.perf_counter()
        out["sentences"] = len(split_spans(doc.text))
        out["split_s"] = time.perf_counter() - started
        del doc
        if not split_only:
            embedder = make_embedder(Settings().with_(embedder=embedder_name))
            started = time.perf_counter()
            report = index_paths(
                [folder], Path(tmp) / "index", embedder, ChunkSettings(), limits=limits
            )
            out["index_s"] = time.perf_counter() - started
            out["embed_s"] = report.embed_seconds
            out["chunks"] = report.chunks
            out["skipped"] = report.skipped
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,50", help="MB of text, comma-separated")
    parser.add_argument("--embedder", default=None, help="embedder for the 1 MB line")
    parser.add_argument("--split-only", action="store_true", help="skip index_paths")
    parser.add_argument("--default-limits", action="store_true", help="keep IngestLimits()")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mb, name, split_only, default_limits = args.child
        print(json.dumps(measure_one(float(mb), name, split_only == "1", default_limits == "1")))
        return

    first = args.embedder or DEFAULT_EMBEDDER
    print(f"load average {os.getloadavg()[0]:.2f}; each size in a fresh process")
    header = f"{'MB':>6} {'chars':>11} {'sentences':>10} {'load s':>8} {'split s':>8}"
    header += f" {'index s':>8} {'embed s':>8} {'chunks':>7} {'peak RSS MB':>12}  embedder"
    print(header)
    for raw in args.sizes.split(","):
        mb = float(raw)
        name = first if mb <= 1 else "fake"
        flags = ["1" if args.split_only else "0", "1" if args.default_limits else "0"]
        child = [sys.executable, __file__, "--child", str(mb), name, *flags]
        done = subprocess.run(child, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{mb:>6g} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        if "refused" in r:
            print(
                f"{mb:>6g} refused in {r['load_s']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB: "
                f"{r['refused']}"
            )
            continue
        index_s = f"{r['index_s']:>8.1f}" if "index_s" in r else f"{'-':>8}"
        embed_s = f"{r['embed_s']:>8.1f}" if "embed_s" in r else f"{'-':>8}"
        print(
            f"{mb:>6g} {r['chars']:>11,} {r['sentences']:>10,} {r['load_s']:>8.2f} "
            f"{r['split_s']:>8.2f} {index_s} {embed_s} {r.get('chunks', '-'):>7} "
            f"{r['peak_rss_mb']:>12.0f}  {name}",
            flush=True,
        )
        for line in r.get("skipped", []):
            print(f"       skipped: {line}")


if __name__ == "__main__":
    main()

"""The span reader: multilingual-e5-small fine-tuned (LoRA) into an extractive QA model that
marks the answer span in a passage or says "no answer" (SQuAD 2.0 style, the <s> token).

It gives the sentence scorer the one signal its features lack: whether a sentence holds the
fact asked, not just the question's topic (issue 9). The adapters ship as
rag/answer/span_reader.npz (trained by eval/span_reader/train.py on ../shared/evaldata/train
only); the first use merges them into the e5 checkpoint every install builds and exports an
ONNX file under the models folder, named by the adapters' fingerprint.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.features import Candidate
from rag.errors import ConfigError, MissingDependencyError
from rag.index.e5_onnx import publish_file, quantize_int8
from rag.index.e5_weights import _INSTALL_HINT, QUERY_PREFIX
from rag.protocols import Reader
from rag.records import Hit, Reading, SpanScore

ADAPTERS = "span_reader.npz"
# Sentences read per question, the first-pass scorer's best. Its top 10 hold the answer
# sentence for .955 / .986 / .993 of dev kk / ru / en questions whose hits have one (top 6:
# .891 / .954 / .985; scorer 42c580e06080 on the build rows of eval/answer_scorer).
READ_TOP = 10
# Dynamic int8 as the embedder: ~55 ms per dev passage on 2 cores
# (`python -m eval.span_reader.check --limit 100`); fp32 was not measured against it on a
# quiet machine, and the gate numbers (eval/thresholds.toml) are int8's.
QUANTIZE = "int8"
# ...with 7-bit weights, as the embedder (rag/index/e5_onnx.py ONNX_FILES says why): full
# 8-bit weights gave other answers on an AVX2 machine (gold answer_contains .817 on AVX-512
# VNNI, .767 on an AVX2 EPYC, same commit; 7-bit: .800 there).
_CLS, _SEP = 0, 2


class SpanReader:
    """Reads (question, passage) pairs with the committed adapters' ONNX export on
    onnxruntime; the export is built under `models_dir` on the first read."""

    def __init__(self, models_dir: Path, threads: int = 0) -> None:
        meta = adapters_meta()
        self.models_dir = Path(models_dir)
        self.max_len, self.stride, self.threads = int(meta["max_len"]), int(meta["stride"]), threads
        self.fingerprint = str(meta["fingerprint"])
        self._lock = threading.Lock()
        self._session: Any = None
        self._tok: Any = None

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = ensure_reader(self.models_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._tok = Tokenizer.from_file(str(path.parent / "tokenizer.json"))
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _windows(self, q_ids: list[int], p_ids: list[int]) -> list[tuple[int, int]]:
        room = max(self.max_len - len(q_ids) - 4, 16)
        out, start = [], 0
        while True:
            out.append((start, min(start + room, len(p_ids))))
            if start + room >= len(p_ids):
                return out
            start += room - self.stride

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]:
        """One Reading per passage (all windows of all passages in one batch)."""
        with self._lock:
            if self._session is None:
                self._load()
        q_ids = self._tok.encode(QUERY_PREFIX + question, add_special_tokens=False).ids
        q_ids = q_ids[: self.max_len // 3]
        rows: list[list[int]] = []
        where: list[tuple[int, int, int, int]] = []  # passage, window start, end, window row
        encs = [self._tok.encode(p, add_special_tokens=False) for p in passages]
        for n, enc in enumerate(encs):
            for a, b in self._windows(q_ids, enc.ids):
                where.append((n, a, b, len(rows)))
                rows.append([_CLS, *q_ids, _SEP, _SEP, *enc.ids[a:b], _SEP])
        if not rows:
            return []
        width = max(map(len, rows))
        ids = np.ones((len(rows), width), dtype=np.int64)  # <pad> = 1
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        logits = self._session.run(None, {"input_ids": ids, "attention_mask": (ids != 1).astype(np.int64)})[0]
        first = len(q_ids) + 3
        out = []
        for n, enc in enumerate(encs):
            parts = [(a, b, row) for m, a, b, row in where if m == n]
            offs, st, en, win, null = [], [], [], [], []
            for w, (a, b, row) in enumerate(parts):
                offs.append(np.asarray(enc.offsets[a:b], dtype=np.int64).reshape(-1, 2))
                st.append(logits[row, first : first + b - a, 0])
                en.append(logits[row, first : first + b - a, 1])
                win.append(np.full(b - a, w))
                null.append(logits[row, 0, 0] + logits[row, 0, 1])
            out.append(Reading(np.concatenate(offs), np.concatenate(st), np.concatenate(en),
                               np.concatenate(win), np.asarray(null, dtype=np.float32)))  # fmt: skip
        return out


def read_candidates(
    reader: Reader, question: str, hits: Sequence[Hit], cands: Sequence[Candidate],
    first_pass: np.ndarray, top: int = READ_TOP,
) -> list[SpanScore | None]:
    """The reader's best span in each of the `top` candidates by `first_pass` (None for the
    rest), in the candidate sentence's own characters.

    Each hit holding some of them is read as one excerpt: from the sentence before its first
    chosen sentence to the sentence after its last, so every sentence is read in context."""
    spans: list[SpanScore | None] = [None] * len(cands)
    by_hit: dict[int, list[int]] = {}
    for i in np.argsort(-first_pass, kind="stable")[:top]:
        by_hit.setdefault(cands[int(i)].hit, []).append(int(i))
    excerpts: list[tuple[int, list[int]]] = []
    texts = []
    for h, idxs in by_hit.items():
        sents = hits[h].sentences
        lo = min(cands[i].sentence.start for i in idxs)
        hi = max(cands[i].sentence.end for i in idxs)
        a = max((s.start for s in sents if s.end <= lo), default=lo)
        b = min((s.end for s in sents if s.start >= hi), default=hi)
        excerpts.append((a, idxs))
        texts.append(hits[h].doc.text[a:b])
    for (a, idxs), reading in zip(excerpts, reader.read(question, texts), strict=True):
        for i in idxs:
            s = cands[i].sentence
            best = reading.best_span(s.start - a, s.end - a)
            if best is not None:
                at = s.start - a  # the sentence's offset in the excerpt
                spans[i] = SpanScore(best[0], best[1][0] - at, best[1][1] - at)
    return spans


def margins(spans: Sequence[SpanScore | None]) -> np.ndarray:
    """Each candidate's reader margin, NaN where it was not read (`features.with_reader`'s input)."""
    return np.array([np.nan if s is None else s.margin for s in spans], dtype=np.float64)


# ----------------------------------------------------------------------------- building


@cache
def adapters_meta() -> dict[str, Any]:
    """The committed adapters' training record (fingerprint, window sizes, command)."""
    with np.load(_adapters_path()) as z:
        return json.loads(str(z["meta"]))


def _adapters_path() -> Path:
    return Path(str(resources.files("rag.answer") / ADAPTERS))


def reader_path(models_dir: Path, quantize: str = QUANTIZE) -> Path:
    """Where the exported reader for the committed adapters lives (built if missing)."""
    name = "reader.onnx" if quantize == "fp32" else "reader_qint8_7bit.onnx"
    return Path(models_dir) / f"span-reader-{adapters_meta()['fingerprint']}" / name


def ensure_reader(models_dir: Path, quantize: str = QUANTIZE) -> Path:
    """Build the reader's ONNX file unless it is there: e5 checkpoint + adapters + head,
    exported in fp32, then (int8) quantized as the embedder is."""
    out = reader_path(models_dir, quantize)
    if out.exists():
        return out
    from rag.index.e5_onnx import default_model_dir
    from rag.index.e5_weights import build_hf_checkpoint

    hf_dir = default_model_dir(models_dir)
    if not (hf_dir / "model.safetensors").exists():
        build_hf_checkpoint(hf_dir)
    fp32 = reader_path(models_dir, "fp32")
    fp32.parent.mkdir(parents=True, exist_ok=True)
    tok = fp32.parent / "tokenizer.json"
    if not tok.exists():  # via a temporary file: another process may be reading it
        fd, tmp_tok = tempfile.mkstemp(prefix=".tok.", dir=fp32.parent)
        with os.fdopen(fd, "wb") as f:
            f.write((hf_dir / "tokenizer.json").read_bytes())
        os.replace(tmp_tok, tok)
    if not fp32.exists():
        _export(hf_dir, fp32)
    if out != fp32:
        quantize_int8(fp32, out)
    return out


def _export(hf_dir: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL_HINT) from exc

    model = AutoModel.from_pretrained(str(hf_dir), attn_implementation="eager", add_pooling_layer=False).eval()
    params = dict(model.named_parameters())
    with np.load(_adapters_path()) as z, torch.no_grad():
        for key in z.files:
            if key.endswith(".lora_b"):
                name = key.removesuffix(".lora_b")
                delta = z[key].astype(np.float32) @ z[name + ".lora_a"].astype(np.float32)
                params[name] += torch.from_numpy(delta)
            elif key in params:
                params[key].copy_(torch.from_numpy(z[key].astype(np.float32)))
            elif not key.startswith(("head.", "meta")) and not key.endswith(".lora_a"):
                raise ConfigError(f"{ADAPTERS}: unknown parameter {key}")
        head = torch.nn.Linear(model.config.hidden_size, 2)
        head.weight.copy_(torch.from_numpy(z["head.weight"].astype(np.float32)))
        head.bias.copy_(torch.from_numpy(z["head.bias"].astype(np.float32)))

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.head = model, head

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.head(self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)

    ids = torch.tensor([[0, 35378, 12, 3293, 2], [0, 17, 12, 2, 1]], dtype=torch.long)
    axes = {0: "batch", 1: "seq"}
    fd, tmp = tempfile.mkstemp(prefix=".reader.", suffix=".onnx", dir=out.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                Reader().eval(), (ids, (ids != 1).long()), tmp, dynamo=False, opset_version=17,
                input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
                do_constant_folding=True,
            )  # fmt: skip
        publish_file(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


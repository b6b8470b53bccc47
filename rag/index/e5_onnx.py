"""The default embedder: multilingual-e5-small exported to ONNX and served with onnxruntime.

Build chain (run once, cached under the models folder): the float32 checkpoint from
rag.index.e5_weights -> ONNX fp32 (torch + transformers) -> optional dynamic int8.
Embedding needs only onnxruntime + tokenizers.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import MissingDependencyError
from rag.index.e5_weights import (
    _INSTALL_HINT,
    MAX_TOKENS,
    MODEL_NAME,
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    build_hf_checkpoint,
    model_dir_name,
)
from rag.index.model_hash import model_digest, write_hash_sidecar
from rag.settings import DEFAULT_SENTENCE_VECTORS

QUANTIZATIONS = ("int8", "fp32")
# int8 by default (the eval floors are set on it); fp32 is ~2x slower on 2 cores and scores
# ~1 point higher kk hit@1 (0.564 vs 0.553 on the 697-passage KazQAD dev pool).
DEFAULT_QUANTIZE = "int8"
ONNX_FILES = {"fp32": "model.onnx", "int8": "model_qint8_7bit.onnx"}
# int8 weights are 7-bit (onnxruntime's reduce_range): x86 CPUs without VNNI sum 8-bit pairs
# with VPMADDUBSW, whose 16-bit sums saturate for full-range weights and VNNI's don't, so
# vectors (and answers: rag/answer/span_reader.py) differed between machines. 7-bit weights
# can't saturate: every CPU computes the same integer products. Mean cosine to fp32 on an AVX2
# EPYC, 120 KazQAD/XQuAD-ru dev passages: .99753 full-range -> .99789 7-bit
# (`python eval/bench/int8_fidelity.py`, 2026-12-07). Answers still differ slightly between
# CPUs (the float parts, such as activation scales, layer norms and softmax, follow the SIMD
# width): gold citation precision .936 / refusal .438 on an AVX-512 VNNI Xeon vs .909 / .375
# on that EPYC, same commit (`jauap eval`, 2026-12-08); the gate margins absorb it.
# Dynamic int8 quantizes activations per tensor, and layer 4's FFN output has the outliers that
# suffer most: keeping that one MatMul of 72 in fp32 costs ~1% speed and lifts the mean cosine
# to fp32 from 0.996 to 0.998 (XQuAD en->ru hit@1: 0.786 -> 0.811; fp32 0.815).
INT8_KEEP_FP32 = ["/model/encoder/layer.4/output/dense/MatMul"]

def fingerprint_recipe(quantize: str) -> str:
    """What the fingerprint hashes after the model's bytes."""
    return f"|{quantize}|{QUERY_PREFIX}|{PASSAGE_PREFIX}|mean|l2|{MAX_TOKENS}"


# ----------------------------------------------------------------------------- building


def publish_file(tmp: str, final: Path) -> None:
    """Move a finished temporary file into place atomically, readable by all."""
    os.chmod(tmp, 0o644)  # mkstemp files are 0600
    os.replace(tmp, final)


def build_onnx(hf_dir: Path, quantize: str = DEFAULT_QUANTIZE) -> Path:
    """Export ``hf_dir``'s encoder to ``hf_dir/onnx/model.onnx``; for int8 also quantize it.

    Inputs ``input_ids``, ``attention_mask`` (int64, [batch, seq]); output ``last_hidden_state``.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}")
    onnx_dir = Path(hf_dir) / "onnx"
    onnx_dir.mkdir(exist_ok=True)
    fp32 = onnx_dir / ONNX_FILES["fp32"]
    if not fp32.exists():
        _export_fp32(Path(hf_dir), fp32)
    out = onnx_dir / ONNX_FILES[quantize]
    if not out.exists():
        quantize_int8(fp32, out, exclude=INT8_KEEP_FP32)
        write_hash_sidecar(out, [fingerprint_recipe(quantize)])
    return out


def quantize_int8(fp32: Path, out: Path, exclude: Sequence[str] = ()) -> None:
    """Dynamic int8 with per-channel 7-bit weights (ONNX_FILES says why), written atomically;
    the nodes named in `exclude` stay fp32. Used by the embedder and the span reader."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its "consider pre-processing" note is for CNNs
    try:
        with tempfile.TemporaryDirectory(prefix=".int8.", dir=out.parent) as private:
            # onnxruntime writes "<input>-inferred.onnx" beside its input and deletes it
            # after: two processes quantizing one model (a test's server and the tests, CI
            # 2026-12-07) deleted each other's. Each reads its own link to the fp32 file.
            src = Path(private) / fp32.name
            try:
                src.symlink_to(fp32.resolve())
            except OSError:  # no symlinks here: a copy
                shutil.copyfile(fp32, src)
            tmp = str(Path(private) / "int8.onnx")
            quantize_dynamic(str(src), tmp, weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True, nodes_to_exclude=list(exclude))  # fmt: skip
            publish_file(tmp, out)
    finally:
        logging.disable(logging.NOTSET)


def _export_fp32(hf_dir: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL_HINT) from exc

    class Encoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = AutoModel.from_pretrained(str(hf_dir), attn_implementation="eager").eval()
    ids = torch.tensor([[0, 35378, 12, 3293, 2], [0, 17, 12, 2, 1]], dtype=torch.long)
    axes = {0: "batch", 1: "seq"}
    fd, tmp = tempfile.mkstemp(prefix=".fp32.", suffix=".onnx", dir=out.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation, tracer notes
            torch.onnx.export(
                Encoder(model), (ids, (ids != 1).long()), tmp, dynamo=False, opset_version=17,
                input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
                do_constant_folding=True,
            )  # fmt: skip
        publish_file(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    write_hash_sidecar(out, [fingerprint_recipe("fp32")])


def default_model_dir(models_dir: Path) -> Path:
    """The versioned folder of the rebuilt checkpoint (and its onnx/ files) under `models_dir`."""
    return Path(models_dir) / model_dir_name()


def ensure_default_model(models_dir: Path, quantize: str = DEFAULT_QUANTIZE) -> Path:
    """Build whatever is missing under `models_dir`; return the ONNX file for ``quantize``."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}")
    hf_dir = default_model_dir(models_dir)
    onnx_path = hf_dir / "onnx" / ONNX_FILES[quantize]
    if onnx_path.exists():
        return onnx_path
    if not (hf_dir / "model.safetensors").exists():
        build_hf_checkpoint(hf_dir)
    return build_onnx(hf_dir, quantize)


# ----------------------------------------------------------------------------- embedding


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[:, :, None].astype(np.float32)
    return (hidden * m).sum(axis=1) / m.sum(axis=1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; all-zero rows stay zero."""
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)


def token_ranges(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]], kept: int
) -> list[tuple[int, int] | None]:
    """For each character span, the [first, last + 1) token positions whose offsets overlap
    it (special tokens have empty offsets and never do); None when no token does or a token
    at position ``kept`` or later (cut off by truncation) would be needed."""
    if not len(offsets):
        return [None] * len(spans)
    starts = np.fromiter((a for a, _ in offsets), dtype=np.int64, count=len(offsets))
    ends = np.fromiter((b for _, b in offsets), dtype=np.int64, count=len(offsets))
    real = ends > starts
    out: list[tuple[int, int] | None] = []
    for s, e in spans:
        hit = np.flatnonzero(real & (ends > s) & (starts < e))
        ok = len(hit) > 0 and int(hit[-1]) < kept
        out.append((int(hit[0]), int(hit[-1]) + 1) if ok else None)
    return out


class OnnxE5Embedder:
    """multilingual-e5-small on onnxruntime; implements ``rag.protocols.Embedder``.

    Texts are sorted by length and batched (<= batch_size, <= max_batch_tokens padded tokens).
    Small batches are fastest on CPU: with 512 tokens instead of 8192 per batch, ~240-token
    passages run 2x (fp32) to 2.6x (int8) faster per core, as activations stay in cache.
    int8 quantizes activations per batch, so its vectors shift slightly (cosine ~0.997) with
    the batch a text lands in; fp32 vectors do not depend on batching.
    """

    max_tokens: int = MAX_TOKENS

    def __init__(
        self,
        model_path: Path,
        quantize: str | None = None,
        threads: int = 2,
        batch_size: int = 32,
        max_batch_tokens: int = 512,
        sentence_vectors: str = DEFAULT_SENTENCE_VECTORS,
    ) -> None:
        """``model_path``: an ONNX file with tokenizer.json in its folder or the one above;
        ``quantize`` defaults to what the file name says (``*int8*`` -> int8, else fp32);
        ``sentence_vectors``: how the indexer gets sentence vectors from it, "pooled" out of
        each chunk's pass (``embed_passages_with_spans``) or "separate". The onnxruntime
        session starts on first use. (Starting it in a thread here overlapped it with the
        tokenizer's load: embedder + first answer 1.11 -> 1.01 s at 100k in serving's order,
        no change when a query follows at once, eval/bench/memory.py on a quiet machine; not
        worth a thread in every process that only needs the fingerprint.)"""
        self.model_path = Path(model_path)
        self.quantize = quantize or ("int8" if "int8" in self.model_path.name else "fp32")
        if self.quantize not in QUANTIZATIONS:
            raise ValueError(f"quantize must be one of {QUANTIZATIONS}")
        self.name = f"{MODEL_NAME}-onnx-{self.quantize}"
        self.sentence_vectors = sentence_vectors
        self.dim = 384
        self.threads, self.batch_size, self.max_batch_tokens = threads, batch_size, max_batch_tokens
        self._session: Any = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()
        from tokenizers import Tokenizer

        tok = next((p / "tokenizer.json" for p in (self.model_path.parent,
                    self.model_path.parent.parent) if (p / "tokenizer.json").exists()), None)  # fmt: skip
        if tok is None:
            raise FileNotFoundError(f"no tokenizer.json next to {self.model_path}")
        self._tok = Tokenizer.from_file(str(tok))
        self._tok.no_truncation()  # truncation is done by hand so count_tokens sees full length
        self._tok.no_padding()

    def _new_session(self) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._new_session()
            return self._session

    def fingerprint(self) -> str:
        """Hash of the ONNX bytes, quantization, prefixes, pooling and max length (the
        bytes' part read from the build's sidecar when the file is unchanged)."""
        if self._fingerprint is None:
            digest = model_digest(self.model_path, fingerprint_recipe(self.quantize))
            self._fingerprint = f"{self.name}:{digest[:20]}"
        return self._fingerprint

    def _ids(self, texts: Sequence[str], prefix: str) -> tuple[list[Any], list[list[int]]]:
        """Encodings of ``prefix + text`` and their ids cut to MAX_TOKENS (keeping </s>)."""
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings, not a single string")
        encs = self._tok.encode_batch([prefix + t for t in texts])
        ids = [e.ids for e in encs]
        ids = [x if len(x) <= MAX_TOKENS else x[: MAX_TOKENS - 1] + x[-1:] for x in ids]
        return encs, ids

    def _batches(self, ids: list[list[int]]) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
        """(rows, token states, mask) per padded batch, longest texts first (less padding)."""
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        sess, start = self._get_session(), 0
        while start < len(order):
            longest = len(ids[order[start]])
            size = max(1, min(self.batch_size, self.max_batch_tokens // longest))
            batch = order[start : start + size]
            start += len(batch)
            arr = np.ones((len(batch), longest), dtype=np.int64)  # <pad> = 1
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for r, i in enumerate(batch):
                arr[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            yield batch, sess.run(None, {"input_ids": arr, "attention_mask": mask})[0], mask

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings, not a single string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        for batch, hidden, mask in self._batches(self._ids(texts, prefix)[1]):
            out[batch] = _unit(_mean_pool(hidden, mask))
        return out

    def embed_passages_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One forward pass per text: its passage vector (mean over all tokens, as
        ``embed_passages``) and, for each (start, end) character span of ``spans[i]``, the
        mean of the token states overlapping that span (tokens mapped through the
        tokenizer's offsets). A span that no token covers, or that truncation at 512 tokens
        cuts, gets an all-zero row: the caller encodes it on its own."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_out = [np.zeros((len(s), self.dim), dtype=np.float32) for s in spans]
        if not len(texts):
            return out, span_out
        encs, ids = self._ids(texts, PASSAGE_PREFIX)
        shift = len(PASSAGE_PREFIX)
        tokens = [
            token_ranges(e.offsets, [(a + shift, b + shift) for a, b in s], len(x) - 1)
            for e, s, x in zip(encs, spans, ids, strict=True)
        ]
        for batch, hidden, mask in self._batches(ids):
            out[batch] = _unit(_mean_pool(hidden, mask))
            for r, i in enumerate(batch):
                for j, rng in enumerate(tokens[i]):
                    if rng is not None:
                        span_out[i][j] = hidden[r, rng[0] : rng[1]].mean(axis=0)
        for vectors in span_out:
            vectors[:] = _unit(vectors)
        return out, span_out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 unit rows, with the ``query: `` prefix."""
        return self._embed(texts, QUERY_PREFIX)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 unit rows, with the ``passage: `` prefix."""
        return self._embed(texts, PASSAGE_PREFIX)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``"passage: " + text`` including <s> and </s>, before truncation to 512."""
        return len(self._tok.encode(PASSAGE_PREFIX + text).ids)

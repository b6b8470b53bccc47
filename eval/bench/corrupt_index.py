"""Damaged-index check: how `jauap search`, `ask` and `index` end on each corruption in
tests/reliability/corruptions.py. Prints a table; it is not a test.

    python eval/bench/corrupt_index.py [--code DIR]

--code DIR runs another checkout's `rag` package (e.g. an older commit unpacked with
`git archive COMMIT | tar -x -C DIR`) against the same corruptions, for before/after.
Outcomes: `line` (exit 1 with one `Error:` line, no traceback), `TRACEBACK` (an uncaught
exception), `ok` (exit 0); for `index`, `rebuilt` means exit 0 and a working index after.
Uses the fake embedder and a private cache; no network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _outcome(result: object) -> str:
    exc = getattr(result, "exception", None)
    code = getattr(result, "exit_code", None)
    if code == 0:
        return "ok"
    if isinstance(exc, SystemExit) and "Traceback" not in getattr(result, "output", ""):
        errors = [x for x in result.output.splitlines() if x.startswith("Error: ")]  # type: ignore[attr-defined]
        return "line" if len(errors) == 1 else "lines"
    return "TRACEBACK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", type=Path, help="a checkout whose rag package to run")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # for tests.reliability (the corruption table)
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    tmp = Path(tempfile.mkdtemp(prefix="jauap-corrupt-"))
    os.environ.update({"JAUAP_EMBEDDER": "fake", "JAUAP_CACHE_DIR": str(tmp / "cache")})
    from click.testing import CliRunner

    import rag
    from rag.cli import main as cli
    from rag.settings import SAMPLE_CORPUS
    from tests.reliability.corruptions import CORRUPTIONS

    print(f"rag from {Path(rag.__file__).parent}")
    runner = CliRunner()
    pristine = tmp / "pristine"
    built = runner.invoke(cli, ["index", str(SAMPLE_CORPUS), "--index-dir", str(pristine)])
    assert built.exit_code == 0, built.output
    print(f"{'corruption':<36} {'search':<10} {'ask':<10} {'index':<10}")
    clean = {"search": 0, "ask": 0, "index": 0}
    for name, (damage, _) in CORRUPTIONS.items():
        index_dir = tmp / name.replace(" ", "_")
        shutil.copytree(pristine, index_dir)
        damage(index_dir)
        row = {}
        for command in (["search", "Песков"], ["ask", "Кто открыл форум?"]):
            row[command[0]] = _outcome(runner.invoke(cli, [*command, "--index-dir", str(index_dir)]))
        rebuilt = runner.invoke(cli, ["index", str(SAMPLE_CORPUS), "--index-dir", str(index_dir)])
        row["index"] = _outcome(rebuilt)
        if row["index"] == "ok":
            after = runner.invoke(cli, ["search", "Песков", "--index-dir", str(index_dir)])
            row["index"] = "rebuilt" if after.exit_code == 0 else "broken"
        for key, good in (("search", "line"), ("ask", "line"), ("index", "rebuilt")):
            clean[key] += row[key] == good
        print(f"{name:<36} {row['search']:<10} {row['ask']:<10} {row['index']:<10}")
    n = len(CORRUPTIONS)
    print(
        f"one clear line: search {clean['search']}/{n}, ask {clean['ask']}/{n}; "
        f"index rebuilt: {clean['index']}/{n}"
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The package's shape, checked: no import cycles, stages import only earlier stages, and
modules stay small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

RAG = Path(__file__).resolve().parent.parent / "rag"
# Each stage may import from stages to its left (and from the shared modules); never right.
STAGES = ["text", "ingest", "index", "search", "answer", "eval", "web"]
SHARED = {"errors", "settings", "protocols", "records", "table", "i18n"}
MAX_LINES = 400


def _module(path: Path) -> str:
    parts = path.relative_to(RAG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """rag modules imported by `path` at module level or in functions (TYPE_CHECKING too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("rag"))
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in RAG.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_stages_import_only_earlier_stages() -> None:
    wrong = []
    for module, deps in _graph().items():
        here = _stage(module)
        if here is None:
            continue
        for dep in deps:
            there = _stage(dep)
            if there is not None and STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{module} imports {dep}")
    assert not wrong, wrong


def test_modules_stay_readable() -> None:
    big = {
        str(p.relative_to(RAG.parent)): n
        for p in RAG.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"

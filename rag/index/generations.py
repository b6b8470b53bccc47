"""Generation folders of an index and the locks around them.

Writers take an exclusive lock (`.writer.lock` in the index folder) for a whole run, so two
`jauap index` on one folder take turns. Readers take a shared lock on the generation they
load (`gen-*/.readers`) while reading it; a writer deletes only generations no reader
holds, so a load never finds its files gone. `CURRENT` names the generation to read.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import IndexCorruptError, IndexMissingError

WRITER_LOCK = ".writer.lock"
READERS_LOCK = ".readers"
_LOAD_ATTEMPTS = 5


def rebuild_hint(index_dir: Path) -> str:
    return f"rebuild it with `jauap index --rebuild --index-dir {index_dir}`"


def corrupt(index_dir: Path, problem: str) -> IndexCorruptError:
    return IndexCorruptError(f"index in {index_dir} is damaged: {problem}; {rebuild_hint(index_dir)}")


def current_name(index_dir: Path) -> str | None:
    """The generation `CURRENT` names, or None when there is no index at all."""
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise corrupt(index_dir, f"CURRENT is unreadable ({exc})") from None
    if not name.startswith("gen-") or "/" in name or name in {".", ".."}:
        raise corrupt(index_dir, f"CURRENT names {name[:40]!r}, not a generation")
    return name


def point_current_at(index_dir: Path, gen: Path) -> None:
    """Switch `CURRENT` to `gen` atomically and durably (a complete generation only)."""
    pointer = index_dir / f".CURRENT.{os.getpid()}.{threading.get_ident()}"
    with pointer.open("w", encoding="utf-8") as f:
        f.write(gen.name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / "CURRENT")
    fsync_path(index_dir)


_held = threading.local()  # index folders whose writer lock this thread holds


@contextmanager
def writer_lock(index_dir: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the index folder's writer lock (re-entrant within a thread). Blocks while
    another writer (process or thread) holds it, calling `on_wait` once first."""
    index_dir = Path(index_dir)
    key = str(index_dir.resolve())
    held: set[str] = getattr(_held, "dirs", set())
    _held.dirs = held
    if key in held:
        yield
        return
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / WRITER_LOCK, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            fcntl.flock(f, fcntl.LOCK_UN)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune(index_dir: Path, keep: set[str]) -> None:
    """Delete generations not in `keep` that no reader holds (caller holds the writer
    lock, so no other writer is making one). Half-written ones from killed runs go too.
    `save` keeps the new generation and the one before it: a reader that read CURRENT
    just before the switch is loading that one."""
    for old in index_dir.glob("gen-*"):
        if old.name in keep or not old.is_dir():
            continue
        try:
            f = open(old / READERS_LOCK)  # noqa: SIM115 - held across the delete
        except FileNotFoundError:  # killed before it was made: nobody can read it
            shutil.rmtree(old, ignore_errors=True)
            continue
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a reader is loading it: a later save deletes it
            shutil.rmtree(old, ignore_errors=True)


class Vanished(Exception):
    """The generation CURRENT named was deleted before we locked it: read CURRENT again."""


@contextmanager
def reading(gen: Path) -> Iterator[None]:
    """Hold a shared lock on a generation so no writer deletes it while it is read."""
    try:
        f = open(gen / READERS_LOCK)  # noqa: SIM115
    except FileNotFoundError:
        if (gen / "manifest.json").is_file():  # written by a jauap without reader locks
            yield
            return
        raise Vanished from None
    with f:
        fcntl.flock(f, fcntl.LOCK_SH)
        if not (gen / READERS_LOCK).exists():  # deleted while we waited for the lock
            raise Vanished
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def with_generation(index_dir: Path, read: Callable[[Path], Any]) -> Any:
    """Call `read(gen)` on the current generation while holding it; retried when a writer
    swapped generations under us. Missing index → IndexMissingError."""
    index_dir = Path(index_dir)
    last = None
    for _ in range(_LOAD_ATTEMPTS):
        name = current_name(index_dir)
        if name is None:
            raise IndexMissingError(
                f"no index in {index_dir}: build one with "
                f"`jauap index [PATH ...] --index-dir {index_dir}`"
            )
        if name == last and not (index_dir / name).is_dir():
            break  # CURRENT still names a folder that is gone: not a race
        last = name
        try:
            with reading(index_dir / name):
                return read(index_dir / name)
        except Vanished:
            continue
    if last and (index_dir / last).is_dir():
        raise corrupt(index_dir, f"generation {last} is incomplete (no manifest.json)")
    raise corrupt(index_dir, f"CURRENT names {last}, which does not exist")

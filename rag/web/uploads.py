"""Uploaded files: safe names inside the uploads folder, never overwriting, the same
content not twice; and absolute server paths kept out of what visitors read."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from rag.errors import JauapError

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
# An absolute path with at least one folder ("/srv/docs/a.txt"): shown as its last part.
_ABS_PATH = re.compile(r"(?<![\w./:])(?:/[^\s/'\"`:,;()]+)+/([^\s/'\"`:,;()]+)")


def hide_paths(message: str) -> str:
    """`message` with absolute server paths cut to their last component (for the page)."""
    return _ABS_PATH.sub(lambda m: m.group(1), message)


class UploadError(JauapError):
    """A rejected upload; `key`/`values` give the page's translated message."""

    def __init__(self, key: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.key, self.values = key, values


def safe_filename(name: str) -> str:
    """A file name that stays inside the uploads folder: the last path component only
    (both / and \\ count as separators), no control or reserved characters, no leading
    dots (no hidden files, no `..`). Letters of any script are kept."""
    # browsers send " CR LF in multipart file names as %22 %0D %0A (HTML spec)
    name = re.sub(r"%0[AD]", " ", str(name).replace("%22", '"'), flags=re.I)
    name = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("", name)
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 150 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:150]
    if not name or set(name) <= {"."}:
        raise UploadError("bad_type", f"{name!r} is not a usable file name", name=name or "?")
    return name


def same_bytes(a: Path, b: Path) -> bool:
    if a.name.startswith(".") or a.stat().st_size != b.stat().st_size:
        return False
    return a.read_bytes() == b.read_bytes()


def free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem (2).ext` etc. when that is taken."""
    dest, stem, suffix, n = folder / name, Path(name).stem, Path(name).suffix, 2
    while dest.exists():
        dest, n = folder / f"{stem} ({n}){suffix}", n + 1
    return dest

"""Connections to Milvus: one client per URI and process, with the store's credentials;
a Milvus Lite file another process holds is named as such."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, require

BATCH = 1000  # rows per insert/get page: well under gRPC's 64 MB message cap at dim 1024
_clients: dict[str, Any] = {}
_tokens: dict[str, str] = {}
_clients_lock = threading.Lock()


def use_token(uri: str, token: str | None) -> None:
    """Credentials for the server at `uri` (JAUAP_STORE_TOKEN), used when connecting."""
    if token:
        _tokens[uri] = token


def connect(uri: str) -> Any:
    """A MilvusClient for `uri` (one per URI and process: Milvus Lite allows one process
    per `.db`, and starting it costs ~0.5 s)."""
    require("pymilvus", "milvus")
    from pymilvus import MilvusClient

    with _clients_lock:
        client = _clients.get(uri)
        if client is None:
            target = uri
            if "://" not in uri:  # Milvus Lite: a local file (folder, in milvus-lite 3)
                local = Path(uri).expanduser().resolve()
                local.parent.mkdir(parents=True, exist_ok=True)
                target = str(local)
            try:
                token = _tokens.get(uri)
                client = MilvusClient(uri=target, **({"token": token} if token else {}))
            except Exception as exc:  # pymilvus/milvus-lite raise many kinds
                why = _LOCKED if "://" not in uri and _locked(target) else _reason(exc)
                raise ConfigError(f"cannot open the Milvus store {uri}: {why}") from None
            _clients[uri] = client
    return client


_LOCKED = ("another process has this Milvus Lite file open (Milvus Lite serves one process "
           "at a time; run a Milvus server for several)")


def _locked(folder: str) -> bool:
    """Whether another process holds Milvus Lite's lock on `folder`."""
    import fcntl

    try:
        with open(Path(folder) / "LOCK", "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def read_rows(client: Any, name: str, fields: list[str], count: int) -> list[dict]:
    """Rows 0..count-1 in order, a page at a time, read by primary key (rows are numbered
    densely at save; Milvus Lite filters a query row by row in Python, and query_iterator
    needs a timestamp service it lacks)."""
    out: list[dict] = []
    for lo in range(0, count, BATCH):
        page = client.get(name, ids=list(range(lo, min(count, lo + BATCH))), output_fields=fields)
        out.extend(sorted(page, key=lambda r: r["row"]))
    return out

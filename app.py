"""Run the jauap chat page: `python app.py [--host H] [--port P] [--docs PATH ...] [--index-dir DIR]`.

Indexes the documents (default: the sample corpus) incrementally in the background,
showing progress on the console and on the page, and serves the chat at
http://HOST:PORT, the OpenAI-compatible API at /v1 and MCP at /mcp (as `jauap serve`).
Settings not given here come from the JAUAP_* environment variables
(e.g. JAUAP_EMBEDDER, JAUAP_GENERATOR, JAUAP_API_KEY, OPENAI_BASE_URL, OPENAI_API_KEY)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument(
        "--docs",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="files or folders to index (default: the sample corpus, or $JAUAP_DOCS)",
    )
    parser.add_argument(
        "--index-dir", type=Path, help="index folder (default ./index or $JAUAP_INDEX_DIR)"
    )
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    args = parser.parse_args(argv)

    from rag.errors import JauapError
    from rag.settings import Settings, apply_thread_limits

    try:
        settings = Settings.from_env().with_(index_dir=args.index_dir)
        apply_thread_limits(settings)
        from rag.web.server import serve

        serve(settings, host=args.host, port=args.port, docs=args.docs, open_browser=args.open)
    except JauapError as exc:
        print(f"jauap: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

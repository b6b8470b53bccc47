"""Question sets for evaluation: the gold set over the sample corpus (eval/gold.jsonl)
and the normalised dev format of shared/evaldata (questions + passage pools)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import InputError
from rag.ingest.documents import clean_text, load_document
from rag.records import Document
from rag.text.lang import detect


@dataclass(frozen=True)
class EvalQuestion:
    """One question with what counts as a right answer. `relevant` holds document ids."""

    qid: str
    lang: str
    question: str
    relevant: frozenset[str]
    doc_lang: str
    answerable: bool = True
    answers: tuple[str, ...] = ()
    answers_question_lang: tuple[str, ...] = ()
    spans: tuple[tuple[str, int, int], ...] = field(default_factory=tuple)

    @property
    def group(self) -> str:
        return f"{self.lang}->{self.doc_lang}"


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a question or passage file; InputError naming the file and line."""
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n}: not JSON: {exc}") from exc
    return rows


def load_passages(paths: Sequence[Path]) -> list[Document]:
    """Passage rows (`passage_id`, `lang`, `title`, `text`) as documents."""
    docs = []
    for path in paths:
        for row in read_jsonl(Path(path)):
            text = clean_text(row["text"])
            docs.append(
                Document(
                    doc_id=row["passage_id"],
                    source=f"{path}#{row['passage_id']}",
                    title=row.get("title") or "",
                    lang=row.get("lang") or detect(text),
                    text=text,
                    content_hash=row["passage_id"],
                )
            )
    return docs


def load_dev_questions(path: Path) -> list[EvalQuestion]:
    """Question rows of the normalised dev format."""
    out = []
    for row in read_jsonl(Path(path)):
        out.append(
            EvalQuestion(
                qid=row["id"],
                lang=row["lang"],
                question=row["question"],
                relevant=frozenset(row["relevant_passage_ids"]),
                doc_lang=row.get("passage_lang", row["lang"]),
                answerable=bool(row.get("relevant_passage_ids")),
                answers=tuple(row.get("answers", ())),
                answers_question_lang=tuple(row.get("answers_question_lang", ())),
            )
        )
    return out


def load_gold(path: Path, corpus: Path) -> tuple[list[EvalQuestion], list[Path]]:
    """The gold set; document names in it are resolved to doc ids of files in `corpus`."""
    files = sorted(p for p in Path(corpus).iterdir() if p.is_file() and p.suffix != ".md")
    ids = {p.name: load_document(p).doc_id for p in files}
    langs = {p.name: load_document(p).lang for p in files}
    out = []
    for row in read_jsonl(Path(path)):
        gold = row.get("gold", [])
        missing = [g["doc"] for g in gold if g["doc"] not in ids]
        if missing:
            raise InputError(f"{path}: {row['id']} names documents not in {corpus}: {missing}")
        doc_langs = sorted({langs[g["doc"]] for g in gold})
        out.append(
            EvalQuestion(
                qid=row["id"],
                lang=row["lang"],
                question=row["question"],
                relevant=frozenset(ids[g["doc"]] for g in gold),
                doc_lang="+".join(doc_langs) if doc_langs else "none",
                answerable=bool(row["answerable"]),
                answers=tuple(row.get("answers", ())),
                answers_question_lang=tuple(row.get("answers_question_lang", ())),
                spans=tuple((ids[g["doc"]], g["start"], g["end"]) for g in gold),
            )
        )
    return out, files

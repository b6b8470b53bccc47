"""Validate eval/gold.jsonl against the clean text of the corpus and fill in quote offsets.

Usage (from the repository root, virtualenv active):

    python eval/gold_offsets.py            # check everything, fill start/end, rewrite gold.jsonl
    python eval/gold_offsets.py --check    # check only; fail if the stored offsets are stale

Every document named in a `gold` entry is loaded with `rag.ingest.load_document`, whose
`.text` is the clean text (NFC, whitespace normalised, `[bookmark: ...]` residue removed,
`date YYYY-MM-DD` header dropped). For each row the script checks the schema, finds each
`quote` in that clean text (so `text[start:end] == quote`), checks each `answers` variant
occurs verbatim in a gold document, and checks that every gold span overlaps at least one
occurrence of an `answers` variant. The file is rewritten only when there are no problems;
otherwise the problems are listed and the exit status is 1. Counts by question language x
document language are printed either way.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
ROOT = EVAL_DIR.parent
sys.path.insert(0, str(ROOT))

from rag.ingest.documents import load_document  # noqa: E402 - after the sys.path tweak

GOLD = EVAL_DIR / "gold.jsonl"
CORPUS = EVAL_DIR / "corpus"
LANGS = ("kk", "ru", "en")
KEY_ORDER = (
    "id",
    "lang",
    "question",
    "answerable",
    "answer",
    "answers",
    "answers_question_lang",
    "gold",
    "needs_both",
    "note",
)


def occurrences(text: str, sub: str) -> list[int]:
    """Start offsets of every (possibly overlapping) occurrence of `sub` in `text`."""
    out, i = [], text.find(sub)
    while i != -1:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def whitespace_hint(text: str, quote: str) -> str | None:
    """The clean-text span that equals `quote` up to whitespace, if there is one."""
    words = quote.split()
    if not words:
        return None
    m = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return text[m.start() : m.end()] if m else None


def load_rows(path: Path) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not valid JSON: {exc}")
    return rows, problems


def check_row(row: dict, docs: dict, problems: list[str]) -> None:
    rid = row.get("id", "?")

    def bad(msg: str) -> None:
        problems.append(f"{rid}: {msg}")

    for key in KEY_ORDER[:-1]:  # every field but the optional note
        if key not in row:
            bad(f"missing field {key!r}")
            return
    if row["lang"] not in LANGS:
        bad(f"lang must be one of {LANGS}, got {row['lang']!r}")
    if not str(row["question"]).strip():
        bad("empty question")
    for key in ("answers", "answers_question_lang", "gold"):
        if not isinstance(row[key], list):
            bad(f"{key} must be a list")
            return

    if not row["answerable"]:
        if (
            row["answer"]
            or row["answers"]
            or row["answers_question_lang"]
            or row["gold"]
        ):
            bad(
                "unanswerable row must have empty answer, answers, answers_question_lang and gold"
            )
        if row["needs_both"]:
            bad("unanswerable row must have needs_both false")
        if not str(row.get("note", "")).strip():
            bad(
                "unanswerable row needs a 'note' saying why the documents don't answer it"
            )
        return

    if not str(row["answer"]).strip():
        bad("answerable row has an empty answer")
    if not row["answers"]:
        bad("answerable row has no 'answers' variants")
    if not row["answers_question_lang"]:
        bad("answerable row has no 'answers_question_lang' variants")
    if not row["gold"]:
        bad("answerable row has no gold span")
        return

    gold_docs = []
    for k, g in enumerate(row["gold"]):
        name = g.get("doc")
        if name not in docs:
            bad(f"gold[{k}]: unknown document {name!r} (expected a file in {CORPUS})")
            continue
        gold_docs.append(name)
        if g.get("doc_lang") not in LANGS:
            bad(
                f"gold[{k}]: doc_lang must be one of {LANGS}, got {g.get('doc_lang')!r}"
            )
        text = docs[name].text
        quote = g.get("quote", "")
        if not quote:
            bad(f"gold[{k}]: empty quote")
            continue
        starts = occurrences(text, quote)
        if not starts:
            hint = whitespace_hint(text, quote)
            msg = f"gold[{k}]: quote not found in clean text of {name}: {quote[:80]!r}"
            if hint is not None:
                msg += (
                    f"\n      differs only in whitespace; clean-text version: {hint!r}"
                )
            bad(msg)
            continue
        # keep an existing offset if it still points at the quote, else take the first occurrence
        start = g.get("start") if g.get("start") in starts else starts[0]
        if len(starts) > 1 and g.get("start") not in starts:
            print(
                f"note: {rid} gold[{k}] quote occurs {len(starts)} times; using the first",
                file=sys.stderr,
            )
        g["start"], g["end"] = start, start + len(quote)
        assert text[g["start"] : g["end"]] == quote
        # at least one answers variant must lie inside or overlap this span
        if not any(
            s < g["end"] and s + len(a) > g["start"]
            for a in row["answers"]
            if a
            for s in occurrences(text, a)
        ):
            bad(
                f"gold[{k}]: no 'answers' variant lies inside or overlaps the quote span "
                f"[{g['start']}, {g['end']}) of {name}"
            )

    for a in row["answers"]:
        if not a or not any(a in docs[d].text for d in gold_docs):
            bad(
                f"answers variant not found verbatim in the clean text of {gold_docs}: {a!r}"
            )

    if row["needs_both"] != (len(set(gold_docs)) > 1):
        bad(
            f"needs_both is {row['needs_both']} but gold cites {len(set(gold_docs))} document(s)"
        )


def counts(rows: list[dict]) -> str:
    """A plain-text table of rows by question language x document language."""
    cols = ("ru doc", "kk doc", "both", "unanswerable")
    table: Counter = Counter()
    cross = 0
    for r in rows:
        if not r.get("answerable"):
            col = "unanswerable"
        elif r.get("needs_both"):
            col = "both"
        else:
            col = f"{r['gold'][0]['doc_lang']} doc"
        table[(r["lang"], col)] += 1
        if (
            r.get("answerable")
            and not r.get("needs_both")
            and r["lang"] != r["gold"][0]["doc_lang"]
        ):
            cross += 1
    lines = ["question lang | " + " | ".join(f"{c:>12}" for c in cols) + " |  total"]
    for lang in LANGS:
        cells = [table[(lang, c)] for c in cols]
        lines.append(
            f"{lang:>13} | "
            + " | ".join(f"{v:>12}" for v in cells)
            + f" | {sum(cells):>6}"
        )
    tot = [sum(table[(lang, c)] for lang in LANGS) for c in cols]
    lines.append(
        f"{'total':>13} | " + " | ".join(f"{v:>12}" for v in tot) + f" | {sum(tot):>6}"
    )
    n = len(rows)
    n_ans = sum(1 for r in rows if r.get("answerable"))
    n_both = sum(1 for r in rows if r.get("needs_both"))
    en_kk = table[("en", "kk doc")]
    lines += [
        "",
        f"rows: {n}   answerable: {n_ans}   unanswerable: {n - n_ans}   needs_both: {n_both}",
        (
            f"cross-lingual (single-doc, question lang != doc lang): {cross} = {cross / max(n, 1):.0%} of all rows"
            f" ({cross / max(n_ans, 1):.0%} of answerable);"
            f" counting needs_both rows too: {cross + n_both} = {(cross + n_both) / max(n, 1):.0%}"
        ),
        (
            f"en -> kk doc: {en_kk}   kk -> ru doc: {table[('kk', 'ru doc')]}   en -> ru doc: {table[('en', 'ru doc')]}"
            f"   ru -> kk doc: {table[('ru', 'kk doc')]}"
        ),
        "unanswerable by question lang: "
        + ", ".join(f"{lang} {table[(lang, 'unanswerable')]}" for lang in LANGS),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument(
        "--check", action="store_true", help="do not rewrite; fail if offsets are stale"
    )
    args = parser.parse_args(argv)

    rows, problems = load_rows(args.gold)
    before = [json.dumps(r, ensure_ascii=False) for r in rows]

    names = sorted(
        {g.get("doc") for r in rows for g in r.get("gold", []) if isinstance(g, dict)}
    )
    docs = {}
    for name in names:
        path = CORPUS / str(name)
        if path.is_file():
            docs[name] = load_document(path)

    seen = Counter(r.get("id") for r in rows)
    problems += [f"{rid}: duplicate id" for rid, c in seen.items() if c > 1]
    for row in rows:
        check_row(row, docs, problems)

    # every row that cites a document must agree on that document's language
    doc_langs: dict[str, set] = {}
    for r in rows:
        for g in r.get("gold", []):
            doc_langs.setdefault(g.get("doc"), set()).add(g.get("doc_lang"))
    problems += [
        f"{d}: inconsistent doc_lang across rows: {sorted(map(str, ls))}"
        for d, ls in doc_langs.items()
        if len(ls) > 1
    ]

    print(counts(rows))
    print()
    if problems:
        print(f"{len(problems)} problem(s); {args.gold} NOT rewritten:")
        for p in problems:
            print("  - " + p)
        return 1

    ordered = [
        {k: r[k] for k in KEY_ORDER if k in r}
        | {k: v for k, v in r.items() if k not in KEY_ORDER}
        for r in rows
    ]
    for r in ordered:
        r["gold"] = [
            {k: g[k] for k in ("doc", "doc_lang", "quote", "start", "end")}
            | {
                k: v
                for k, v in g.items()
                if k not in ("doc", "doc_lang", "quote", "start", "end")
            }
            for g in r["gold"]
        ]
    after = [json.dumps(r, ensure_ascii=False) for r in ordered]
    if args.check:
        if after != before:
            print(
                f"offsets or key order in {args.gold} are stale; run: python eval/gold_offsets.py"
            )
            return 1
        print(
            f"OK: {len(rows)} rows, all quotes and answer variants found; offsets up to date"
        )
        return 0
    args.gold.write_text("\n".join(after) + "\n", encoding="utf-8")
    print(
        f"OK: {len(rows)} rows, all quotes and answer variants found; offsets written to {args.gold}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Evaluation gates: the gold set over the sample corpus (extractive answers) and the dev
# sets of shared/evaldata (retrieval and extractive answers). Floors: eval/thresholds.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
evaldata="${JAUAP_EVALDATA:-../shared/evaldata}"
out="${JAUAP_EVAL_OUT:-eval/out}"
mkdir -p "$out"
gate() { jauap eval "$@" --gate eval/thresholds.toml; }

gate --json "$out/gold.json" --report "$out/gold-report" --gate-section gold
if [ ! -f "$evaldata/dev.questions.jsonl" ]; then
  if [ "${CI:-}" = "true" ]; then echo "missing $evaldata (set JAUAP_EVALDATA)" >&2; exit 1; fi
  echo "skipping dev-set gates: no $evaldata" >&2; exit 0
fi
q="$evaldata/dev.questions.jsonl"
gate --questions "$q" --passages "$evaldata/kazqad.kk.passages.jsonl" --json "$out/dev-kk.json" --gate-section dev-kk
gate --questions "$q" --passages "$evaldata/xquad.ru.passages.jsonl" --json "$out/dev-ru.json" --gate-section dev-ru
gate --questions "$q" --passages "$evaldata/xquad.en.passages.jsonl" --json "$out/dev-en.json" --gate-section dev-en
gate --questions "$q" --passages "$evaldata/kazqad.kk.passages.jsonl" --passages "$evaldata/xquad.ru.passages.jsonl" \
  --no-answers --json "$out/dev-mixed.json" --report "$out/dev-mixed-report" --gate-section dev-mixed
# Our English and Russian renderings of the KazQAD dev questions (eval/devsets), over the
# Kazakh pool and over a pool mixing Kazakh, Russian and English passages.
xk=eval/devsets
gate --questions "$xk/kazqad.en-kk.questions.jsonl" --passages "$evaldata/kazqad.kk.passages.jsonl" \
  --no-answers --json "$out/dev-en-kk.json" --gate-section dev-en-kk
gate --questions "$xk/kazqad.ru-kk.questions.jsonl" --passages "$evaldata/kazqad.kk.passages.jsonl" \
  --no-answers --json "$out/dev-ru-kk.json" --gate-section dev-ru-kk
gate --questions "$xk/kazqad.en-kk.questions.jsonl" --passages "$evaldata/kazqad.kk.passages.jsonl" \
  --passages "$evaldata/xquad.ru.passages.jsonl" --passages "$evaldata/xquad.en.passages.jsonl" \
  --no-answers --json "$out/dev-en-kk-mixed.json" --gate-section dev-en-kk-mixed
echo "all evaluation gates passed"

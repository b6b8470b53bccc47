#!/usr/bin/env bash
# Everything CI checks: install test dependencies (incl. Debian's chromium, the llama.cpp
# and openai extras, and the 98 MB SmolLM2 model the LLM smoke tests run), lint, unit +
# integration + browser tests, the type check (mypy), then the eval gates.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium"
fi
bash scripts/setup.sh "dev,web,llama,llm"
. .venv/bin/activate
jauap models fetch smollm2 >/dev/null
ruff check rag tests eval app.py
mypy
pytest -q -ra
bash scripts/gates.sh

#!/usr/bin/env bash
# Create .venv and install jauap with the CPU build of torch (an unpinned torch would
# pull a multi-GB CUDA build). Extras: pass e.g. "dev,llama,web" as $1 (default: the chat
# page and both LLM generators; `llama` is a prebuilt 34 MB wheel, nothing is compiled).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-web,llama,llm}"
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[st,${extras}]"

#!/usr/bin/env bash
# The tests: every notebook in nbs/ runs in-process (nbdev-test), then pytest (CLI, papermill runs, bad inputs).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PWD/.venv/bin:$PATH"
nbdev-test --n-workers 2
pytest -q "$@"

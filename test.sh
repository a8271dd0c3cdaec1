#!/usr/bin/env bash
# The tests: every library notebook in nbs/ runs in-process (nbdev-test; nbs/experiments/ runs through papermill in pytest), then pytest (CLI, papermill runs, bad inputs).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PWD/.venv/bin:$PATH"
nbdev-test --n-workers 2
pytest -q "$@"

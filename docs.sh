#!/usr/bin/env bash
# Render the notebooks (executed, so the tutorials show their outputs) to HTML in _docs/.
# Where quarto is installed, `nbdev-docs` builds the full nbdev site instead.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PWD/.venv/bin:$PATH"
if command -v quarto >/dev/null && [ "${1:-}" != "--nbconvert" ]; then exec nbdev-docs; fi
mkdir -p _docs/experiments
for nb in nbs/*.ipynb; do
  (cd nbs && jupyter nbconvert --log-level=WARN --execute --ExecutePreprocessor.timeout=900 --to html --output-dir ../_docs "$(basename "$nb")")
done
for nb in nbs/experiments/*.ipynb; do
  (cd nbs/experiments && jupyter nbconvert --log-level=WARN --execute --ExecutePreprocessor.timeout=900 --to html --output-dir ../../_docs/experiments "$(basename "$nb")")
done
python - <<'PY'
from pathlib import Path
pages = sorted(Path("_docs").glob("*.html")) + sorted(Path("_docs/experiments").glob("*.html"))
items = "".join(f'<li><a href="{p.relative_to("_docs")}">{p.relative_to("_docs").with_suffix("")}</a></li>' for p in pages if p.name != "toc.html")
Path("_docs/toc.html").write_text(f"<html><body><h1>remyx_nb</h1><p>Start with <a href='index.html'>index</a>.</p><ul>{items}</ul></body></html>")
print(f"docs: {len(pages)} pages in _docs/ (open _docs/toc.html)")
PY

#!/usr/bin/env bash
# Create .venv with everything remyx_nb needs. torch goes in first and is pinned (constraints.txt) so that no
# dependency can swap it for a multi-GB CUDA build. Elsewhere, install the torch wheel you want first and edit constraints.txt.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "$(grep -E '^torch==' constraints.txt)"
.venv/bin/python -m pip install -q -c constraints.txt -e '.[dev,ray]'
# The Myriad X compiler (OpenVINO 2021.4's MYRIAD plugin) needs libusb; install it when we can.
if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q libusb-1.0-0 >/dev/null; }) \
      || echo "setup.sh: could not install libusb-1.0-0; blob compilation will say what to do." >&2
  else
    echo "setup.sh: for Myriad X blobs install libusb (Debian/Ubuntu: sudo apt-get install libusb-1.0-0)." >&2
  fi
fi
# The review page's browser test drives Debian's Chromium through Playwright (Playwright's own browser download is not
# needed, and may not be reachable); install it when we can.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }) \
      || echo "setup.sh: could not install chromium; the browser test of the review page will be skipped." >&2
  else
    echo "setup.sh: for the review page's browser test install Chromium (Debian/Ubuntu: sudo apt-get install chromium)." >&2
  fi
fi
echo "setup.sh: ready. Try: .venv/bin/remyx-nb --help"

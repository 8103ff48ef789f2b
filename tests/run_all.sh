#!/usr/bin/env bash
# Install everything into .venv and run every test: library/notebook sync check, nbdev_test, pytest.
# Usage (from anywhere): bash tests/run_all.sh [--slow]
#   --slow also runs the long end-to-end checks (pytest -m slow): about 20 minutes more on 2 CPU cores
set -euo pipefail
slow=0; [ "${1:-}" = "--slow" ] && slow=1
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
export PATH="$PWD/.venv/bin:$PATH"

echo "== the library is what the notebooks export, and the notebooks are clean"
snapshot() { git status --porcelain --untracked-files=all -- nbs livertumor; git diff -- nbs livertumor | sha256sum; }
before=$(snapshot)
nbdev_export
nbdev_clean
after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "FAIL: nbdev_export or nbdev_clean changed files; run them and commit the result:" >&2
  git status --short -- nbs livertumor >&2
  exit 1
fi

echo "== nbdev_test"
nbdev_test --n_workers 2

echo "== pytest tests/"
if [ $slow = 1 ]; then pytest tests/ -v -rs --durations=15; else pytest tests/ -v -rs --durations=15 -m "not slow"; fi

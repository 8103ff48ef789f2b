#!/usr/bin/env bash
# Install everything into .venv and run every test: library/notebook sync check, nbdev_test, pytest (two tests at a time).
# Usage (from anywhere): bash tests/run_all.sh [--slow] [--record]
#   --slow    also runs the long end-to-end checks (pytest -m slow)
#   --record  appends this run's minutes per phase, with the CPU and the commit, to benchmarks/results/tests.csv (the README shows them)
set -euo pipefail
slow=0; record=0
for a in "$@"; do
  case "$a" in --slow) slow=1 ;; --record) record=1 ;; *) echo "tests/run_all.sh: unknown option '$a' (expected --slow or --record)" >&2; exit 2 ;; esac
done
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PIP_DISABLE_PIP_VERSION_CHECK=1
start=$SECONDS; mark=$SECONDS; phases=()
done_phase() { phases+=("$1=$((SECONDS - mark))"); echo "-- $1: $((SECONDS - mark)) s"; mark=$SECONDS; }

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
export PATH="$PWD/.venv/bin:$PATH"
done_phase install

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
done_phase export

echo "== nbdev_test"
nbdev_test --n_workers 2 --timing
done_phase nbdev_test

echo "== pytest tests/"
# two tests at a time (pytest-xdist), each file's tests in one worker: much of a test is one-threaded (kernel start,
# imports, tracing), so two cores are used better than by one test at a time
if [ $slow = 1 ]; then marks=""; else marks="not slow"; fi
pytest tests/ -n 2 --dist loadfile -v -rs --durations=30 -m "$marks"
done_phase pytest
echo "-- total: $((SECONDS - start)) s"

if [ $record = 1 ]; then
  python - "$slow" "${phases[@]}" <<'EOF'
import sys
import pandas as pd
from livertumor.core import git_commit
from livertumor.train import cpu_info
slow, phases = sys.argv[1] == '1', dict(p.split('=') for p in sys.argv[2:])
info, git = cpu_info(), git_commit() or {}
row = dict(date=pd.Timestamp.now(tz='UTC').strftime('%Y-%m-%d'), commit=str(git.get('commit', '?'))[:7] + ('+dirty' if git.get('dirty') else ''),
           tests='all, --slow included' if slow else 'default (CI)', **{f'{k}_min': round(int(v) / 60, 1) for k, v in phases.items()},
           total_min=round(sum(map(int, phases.values())) / 60, 1), cpu=info['cpu'], cpu_flags=info['cpu_flags'], cores=info['cores'])
out = 'benchmarks/results/tests.csv'
try: old = pd.read_csv(out)
except FileNotFoundError: old = pd.DataFrame()
pd.concat([old, pd.DataFrame([row])]).to_csv(out, index=False)
print(f'recorded in {out}: {row}')
EOF
fi

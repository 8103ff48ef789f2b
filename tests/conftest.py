import os, sys, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

@pytest.fixture(scope='session')
def root(): return ROOT

def run(*cmd, cwd=ROOT, timeout=900, **kw):
    "Run a command from the virtual environment's bin folder; return the CompletedProcess."
    exe = BIN/cmd[0]
    return subprocess.run([str(exe) if exe.exists() else cmd[0], *map(str, cmd[1:])], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, **kw)

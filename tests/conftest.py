import os, sys, subprocess
from contextlib import contextmanager
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: long end-to-end checks (minutes each), run by `bash tests/run_all.sh --slow`')

def pytest_sessionstart(session):
    "The default synthetic set, made once before pytest-xdist starts its workers (two workers would both make it, and swap it in under each other)."
    if not hasattr(session.config, 'workerinput'):
        from livertumor.synthetic import ensure_synthetic
        ensure_synthetic()

@pytest.fixture(scope='session')
def root(): return ROOT

def run(*cmd, cwd=ROOT, timeout=900, **kw):
    "Run a command from the virtual environment's bin folder; return the CompletedProcess."
    exe = BIN/cmd[0]
    return subprocess.run([str(exe) if exe.exists() else cmd[0], *map(str, cmd[1:])], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, **kw)

@contextmanager
def gdc_server():
    "A loopback stand-in for the GDC API serving the real Aperio slide, stopped on exit."
    from gdc_server import GDCServer
    from livertumor.core import registry_file
    s = GDCServer(registry_file('cmu_small_region.svs').read_bytes())
    try: yield s
    finally: s.shutdown(); s.server_close()

@pytest.fixture
def server():
    with gdc_server() as s: yield s

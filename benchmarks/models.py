"""Backbone speed and memory: training and inference images per second for float32 and mixed precision, with XLA
on and off, and each configuration's peak resident memory, on this machine.

    python benchmarks/models.py [--models DenseNet121,ResNet50,VGG16] [--steps 5] [--batch 16]

Each configuration runs in its own process (peak memory is per process; the dtype policy is global).
Inputs are random images at the backbone's native size; training is the fine-tuning phase (top 30 layers).
"""
import argparse, json, subprocess, sys, time

def rss_mb(field='VmHWM') -> float:
    "Peak (VmHWM) or current (VmRSS) resident memory of this process in MB, from /proc (Linux)."
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'): return int(line.split()[1]) / 1024
    return float('nan')

def measure(model, precision, xla, steps, batch, fine_tune_layers=30):
    "Training and inference images/s of `model` at its native size, random weights, top `fine_tune_layers` trainable."
    import numpy as np, keras
    from livertumor.models import build_classifier, get_backbone, load_backbone, set_trainable
    from livertumor.train import choose_precision
    precision = choose_precision(precision)
    keras.mixed_precision.set_global_policy(precision)
    size = get_backbone(model).input_size
    bb, _ = load_backbone(model, size, 'none')
    m = build_classifier(bb); set_trainable(bb, fine_tune_layers)
    m.compile(keras.optimizers.Adam(1e-4), 'sparse_categorical_crossentropy', jit_compile=xla)
    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype('float32'); y = np.zeros(batch, 'int32')
    t0 = time.perf_counter(); m.train_on_batch(x, y); m.train_on_batch(x, y); warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps): m.train_on_batch(x, y)
    train = steps * batch / (time.perf_counter() - t0)
    m.predict_on_batch(x); m.predict_on_batch(x)
    t0 = time.perf_counter()
    for _ in range(steps): m.predict_on_batch(x)
    infer = steps * batch / (time.perf_counter() - t0)
    peak = rss_mb()
    return dict(model=model, precision=precision, xla=xla, size=size, train_img_s=round(train, 2), infer_img_s=round(infer, 2),
                compile_and_warmup_s=round(warm, 1), peak_rss_mb=round(peak))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', default='DenseNet121,ResNet50,VGG16'); p.add_argument('--steps', type=int, default=5)
    p.add_argument('--batch', type=int, default=16); p.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:                                            # child process: one configuration
        model, precision, xla = a.one.split(':')
        print(json.dumps(measure(model, precision, xla == 'True', a.steps, a.batch))); return
    rows = []
    for model in a.models.split(','):
        for precision in ('float32', 'mixed_bfloat16'):
            for xla in (False, True):
                r = subprocess.run([sys.executable, __file__, '--one', f'{model}:{precision}:{xla}', '--steps', str(a.steps),
                                    '--batch', str(a.batch)], capture_output=True, text=True)
                row = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else \
                      dict(model=model, precision=precision, xla=xla, error=r.stderr.strip().splitlines()[-1][:200])
                rows.append(row); print(json.dumps(row), flush=True)
    import os, pandas as pd
    from livertumor.core import project_root, write_text_atomic
    from livertumor.train import cpu_has_bf16, cpu_info
    table = pd.DataFrame(rows).assign(**cpu_info(), cpu_bf16=cpu_has_bf16(), batch=a.batch, steps=a.steps)
    print(table.to_string(index=False))
    out = project_root()/'benchmarks'/'results'/'models.csv'
    write_text_atomic(out, table.to_csv(index=False)); print(f'written to {out}')

if __name__ == '__main__': main()

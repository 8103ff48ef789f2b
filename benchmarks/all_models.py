"""Every backbone, measured: `livertumor study --models all` (single split, no baselines) run once on this machine, then for
each model its minutes, peak resident memory, test accuracy, the weights it really used, training images/s, and why the
slowest cost what they cost: forward FLOPs per image at the common input size (TensorFlow's profiler on the inference
graph) against measured inference images/s, as a share of this CPU's measured matrix-multiply peak at the same precision.

    python benchmarks/all_models.py [--preset full] [--models all] [--runs DIR]

`--runs DIR` holding a finished study is read instead of running one. Appends to benchmarks/results/all_models.csv, one
row per model, with the CPU model and flags, the commit and the date; rows of other CPU kinds are kept.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

def matmul_peak(precision:str, n:int=2048, reps:int=20) -> float:
    "GFLOP/s of an n × n matrix product at the policy's compute dtype: the practical peak of this CPU's cores."
    import tensorflow as tf
    dt = tf.bfloat16 if 'bfloat16' in precision else tf.float16 if 'float16' in precision else tf.float32
    a = tf.random.uniform((n, n), dtype=tf.float32); a = tf.cast(a, dt)
    f = tf.function(lambda a: tf.matmul(a, a)); f(a).numpy()
    t0 = time.perf_counter()
    for _ in range(reps): r = f(a)
    r.numpy()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9

def forward(model:str, size:int, precision:str, steps:int=5, batch:int=16) -> dict:
    "Forward GFLOPs per image (profiler, float ops of the inference graph at batch 1) and steady inference images/s at `precision`."
    import numpy as np, keras, tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.profiler.model_analyzer import profile
    from tensorflow.python.profiler.option_builder import ProfileOptionBuilder
    from livertumor.models import build_classifier, load_backbone
    keras.mixed_precision.set_global_policy('float32')
    m = build_classifier(load_backbone(model, size, 'none')[0])
    f = tf.function(lambda x: m(x, training=False)).get_concrete_function(tf.TensorSpec([1, size, size, 3], tf.float32))
    opts = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output().build()
    flops = profile(convert_variables_to_constants_v2(f).graph, options=opts).total_float_ops
    keras.mixed_precision.set_global_policy(precision)
    m = build_classifier(load_backbone(model, size, 'none')[0])
    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype('float32')
    m.predict_on_batch(x); m.predict_on_batch(x); t0 = time.perf_counter()
    for _ in range(steps): m.predict_on_batch(x)
    return dict(gflops_per_image=round(flops / 1e9, 2), infer_img_s=round(steps * batch / (time.perf_counter() - t0), 2))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--preset', default='full'); p.add_argument('--models', default='all')
    p.add_argument('--runs', default=None, help='a finished study to read instead of running one')
    p.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:                                           # child: one model's forward measurements, in a process of its own
        model, size, precision, out = a.one.split(',')
        Path(out).write_text(json.dumps(forward(model, int(size), precision) | dict(peak_gflop_s=round(matmul_peak(precision), 1)))); return
    sys.path.insert(0, str(ROOT))
    from livertumor.core import git_commit
    from livertumor.train import cpu_info
    work = Path(a.runs or tempfile.mkdtemp(prefix='all_models-'))
    figures = work/'figures'
    if not a.runs:
        cmd = [str(Path(sys.executable).parent/'livertumor'), 'study', '--models', a.models, '--preset', a.preset, '--folds', '1',
               '--runs', str(work/'runs'), '--figures', str(figures)]
        t0 = time.perf_counter(); r = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
        print(r.stdout[-4000:], r.stderr[-2000:] if r.returncode else '', flush=True)
        print(f'study: {(time.perf_counter() - t0) / 60:.1f} min, exit {r.returncode}', flush=True)
    runs = work/'runs' if (work/'runs').is_dir() else work
    study = json.loads((figures/'study.json').read_text()) if (figures/'study.json').is_file() else {}
    rows, info, git = [], cpu_info(), git_commit() or {}
    for f in sorted(runs.glob('*/metrics.json')):
        m = json.loads(f.read_text())
        if m.get('kind') != 'deep' or m.get('folds'): continue
        out = work/f"{m['model']}-forward.json"
        subprocess.run([sys.executable, __file__, '--one', f"{m['model']},{m['image_size']},{m['precision']},{out}"], check=True, cwd=ROOT,
                       capture_output=True)
        fw = json.loads(out.read_text())
        rows.append(dict(model=m['model'], minutes=study.get('run_minutes', {}).get(f.parent.name, round(m['seconds'] / 60, 2)),
                         peak_rss_mb=m.get('peak_rss_mb'), test_accuracy=round(m['test_accuracy'], 4), weights_used=m['weights_used'],
                         weights_origin=m['weights_origin'], recipe=m['recipe'], epochs=m['epochs_trained'], image_size=m['image_size'],
                         precision=m['precision'], train_img_s=round(m['n_train'] * m['epochs_trained'] / m['train_seconds'], 2), **fw,
                         forward_share_of_peak=round(fw['gflops_per_image'] * fw['infer_img_s'] / fw['peak_gflop_s'], 3),
                         data_source=m['data_source'], preset=m['preset'], run_commit=(m.get('git') or {}).get('commit', '?')[:7]))
        print(rows[-1], flush=True)
    if not rows: raise SystemExit(f'{runs}: no finished single-split deep run')
    t = pd.DataFrame(rows).assign(study_minutes=study.get('minutes'), cpu=info['cpu'], cpu_flags=info['cpu_flags'], cores=info['cores'],
                                  commit=git.get('commit', '?')[:7], date=pd.Timestamp.now(tz='UTC').strftime('%Y-%m-%d'))
    out = HERE/'results'/'all_models.csv'
    old = pd.read_csv(out) if out.is_file() else pd.DataFrame(columns=t.columns)
    keep = old[(old.cpu != info['cpu']) | (old.cpu_flags != info['cpu_flags'])]     # this CPU kind's rows are replaced, others kept
    pd.concat([keep, t]).to_csv(out, index=False)
    print(t.drop(columns=['cpu', 'cpu_flags', 'cores', 'date']).to_string(index=False)); print(f'written to {out}')

if __name__ == '__main__': main()

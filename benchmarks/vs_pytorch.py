"""Ours against what a researcher would write instead: livertumor's DenseNet121 study run (`nbs/train.ipynb` with
papermill, `preset=full`, the embedded SYNTHETIC set) and `benchmarks/peer_torch.py`, a plain PyTorch + torchvision
script of the same schedule on the same patients from the same ImageNet weights, run interleaved (ours, peer, ours,
peer, ...) so that drift of this shared machine falls on both alike.

    python benchmarks/vs_pytorch.py [--reps 2] [--steps 10] [--peer-python PATH]

The peer needs its own environment, never a dependency of livertumor or its CI:

    python -m venv .peer-venv && .peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1

(`--peer-python` or LIVERTUMOR_PEER_PYTHON names another interpreter). Three workloads, each both ways:
- densenet121_study: the whole run, wall time from process start to exit (ours includes papermill's kernel start), with
  its phases, training images per second, peak resident memory (the process tree's, from wait4) and test accuracy;
- densenet121_train_step: steady-state seconds per fine-tuning step (batch 16, the same top layers trainable);
- densenet121_predict: steady-state seconds per prediction batch of 16.
Before timing, the peer's converted weights are checked: its pooled features must equal the Keras backbone's.
Writes every measurement to benchmarks/results/vs_pytorch.csv and the summary (medians; ratio = ours / peer, below 1
means ours is faster) to benchmarks/results.csv, with the CPU model and flags, the commit and the date.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SUMMARY_COLUMNS = ['workload', 'ours_s', 'peer_s', 'ratio', 'ours_acc', 'peer_acc', 'cpu', 'flags', 'commit', 'date']

def timed(cmd, **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    "Wall seconds and peak resident MB of `cmd`'s process tree (children it waited for included), and its result."
    import resource
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode: raise SystemExit(f"{cmd[0]} {' '.join(map(str, cmd[1:4]))} ... failed ({p.returncode}):\n{out[-3000:]}")
    return wall, usage.ru_maxrss / 1024, subprocess.CompletedProcess(cmd, p.returncode, out)

def peer_python(arg) -> str:
    "The peer's interpreter, checked to import torch and torchvision."
    py = arg or os.environ.get('LIVERTUMOR_PEER_PYTHON') or str(ROOT/'.peer-venv'/'bin'/'python')
    ok = Path(py).is_file() and subprocess.run([py, '-c', 'import torch, torchvision'], capture_output=True).returncode == 0
    if not ok:
        raise SystemExit(f"--peer-python {py}: no Python with torch and torchvision there. Make the peer's environment with\n"
                         "  python -m venv .peer-venv && .peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1")
    return py

def export_weights(work: Path, fine_tune_layers: int) -> tuple[Path, list[str], str]:
    "The Keras DenseNet121 backbone's weights as .npz, the layers the fine phase trains, and where the weights came from."
    import numpy as np
    from livertumor.models import build_classifier, load_backbone, set_trainable
    bb, info = load_backbone('DenseNet121', 224, 'auto')
    np.savez(work/'densenet121.npz', **{f'{l.name}/{w.name}': np.asarray(w) for l in bb.layers for w in l.weights})
    build_classifier(bb); set_trainable(bb, fine_tune_layers)
    x = np.random.default_rng(0).uniform(0, 255, (4, 224, 224, 3)).astype('float32'); np.save(work/'x.npy', x)
    import keras
    pooled = keras.Sequential([bb, keras.layers.GlobalAveragePooling2D()])
    np.save(work/'features_keras.npy', np.asarray(pooled(keras.applications.densenet.preprocess_input(x.copy()), training=False)))
    return work/'densenet121.npz', [l.name for l in bb.layers if l.trainable_weights], f"{info['used']} ({info['origin']})"

def check_conversion(py, work, weights) -> float:
    "Largest difference between the peer's and Keras' pooled features on four random images; stops if they differ."
    import numpy as np
    subprocess.run([py, str(HERE/'peer_torch.py'), 'features', '--weights', str(weights), '--images', str(work/'x.npy'),
                    '--out', str(work/'features_peer.npy')], check=True, capture_output=True)
    a, b = np.load(work/'features_keras.npy'), np.load(work/'features_peer.npy')
    diff = float(np.abs(a - b).max())
    if a.shape != b.shape or diff > 1e-3 * float(np.abs(a).max()):
        raise SystemExit(f'the peer does not hold the Keras weights: pooled features differ by up to {diff:.3g}')
    return diff

def cell_seconds(notebook: Path) -> dict:
    "Seconds of train.ipynb's steps, from the durations papermill recorded per cell (by the step's heading)."
    nb = json.loads(notebook.read_text())
    out, step = {}, 'setup'
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown' and src.startswith('## '):
            step = {'2': 'data', '3': 'data', '4': 'data', '5': 'model', '6': 'train', '7': 'evaluate', '8': 'save'}.get(src[3], 'setup')
        d = c.get('metadata', {}).get('papermill', {}).get('duration')
        if d: out[step] = out.get(step, 0) + d
    return out

def run_ours(work: Path, tag: str, **params) -> dict:
    "One train.ipynb run of DenseNet121 (preset full unless `params` say otherwise), timed from the outside."
    import pandas as pd
    out_dir = work/f'ours-{tag}'
    cmd = ['papermill', str(ROOT/'nbs'/'train.ipynb'), str(work/f'ours-{tag}.ipynb'), '-p', 'model', 'DenseNet121',
           '-p', 'out_dir', str(out_dir)]
    for k, v in params.items(): cmd += ['-p', k, str(v)]
    wall, peak, _ = timed(cmd, cwd=ROOT)
    m = json.loads((out_dir/'metrics.json').read_text())
    h = pd.read_csv(out_dir/'history.csv')
    cells = cell_seconds(work/f'ours-{tag}.ipynb')
    phase = h.groupby('phase').epoch_seconds.sum()
    return dict(side='ours', wall_s=round(wall, 1), startup_s=round(wall - m['seconds'], 1), data_s=round(cells.get('data', 0), 1),
                head_s=round(float(phase.get('head', 0)), 1), fine_s=round(float(phase.get('fine', 0)), 1),
                train_overhead_s=round(cells.get('train', 0) - float(h.epoch_seconds.sum()), 1),
                evaluate_s=round(cells.get('evaluate', 0), 1),
                train_img_s=round(m['n_train'] * len(h) / float(h.epoch_seconds.sum()), 2), peak_rss_mb=round(peak),
                test_acc=round(m['test_accuracy'], 4), train_acc=round(m['train_accuracy'], 4), n_train=m['n_train'],
                precision=m['precision'], xla=m['xla'], framework=f"livertumor (TensorFlow {m['versions'].get('tensorflow')}, "
                f"Keras {m['versions'].get('keras')})", weights=f"{m['weights_used']} ({m['weights_origin']})",
                splits=str(out_dir/'splits.csv'))

def run_peer(py, work: Path, tag: str, splits, weights, unfreeze, epochs=10) -> dict:
    out = work/f'peer-{tag}.json'
    wall, peak, _ = timed([py, str(HERE/'peer_torch.py'), 'study', '--splits', str(splits), '--weights', str(weights),
                           '--unfreeze', ','.join(unfreeze), '--out', str(out), '--epochs-head', str(epochs), '--epochs-fine', str(epochs)])
    r = json.loads(out.read_text()); s = r['seconds']
    return dict(side='peer', wall_s=round(wall, 1), startup_s=round(wall - sum(v for k, v in s.items() if k != 'startup'), 1),
                data_s=round(s['data'], 1), head_s=round(s['head'], 1), fine_s=round(s['fine'], 1), train_overhead_s=0.0,
                evaluate_s=round(s['evaluate'], 1), train_img_s=r['train_img_s'], peak_rss_mb=round(peak),
                test_acc=round(r['test_accuracy'], 4), train_acc=round(r['train_accuracy'], 4), n_train=r['n']['train'],
                precision=r['precision'], xla=False, framework=r['framework'], weights='imagenet (the same, converted)')

def ours_steps(steps: int, batch: int, fine_tune_layers: int) -> dict:
    "Steady-state images/s of livertumor's fine-tuning step and prediction, as train.ipynb compiles them, on random images."
    import numpy as np, keras
    from livertumor.models import build_classifier, load_backbone, set_trainable
    from livertumor.train import _compile, choose_precision, use_xla
    keras.mixed_precision.set_global_policy(choose_precision('auto'))
    bb, _ = load_backbone('DenseNet121', 224, 'auto')
    m = build_classifier(bb); set_trainable(bb, fine_tune_layers); _compile(m, 1e-5, use_xla('auto'))
    x = np.random.default_rng(0).uniform(-2, 2, (batch, 224, 224, 3)).astype('float32'); y = np.zeros(batch, 'int32')
    out = {}
    for name, fn in (('train_step', lambda: m.train_on_batch(x, y)), ('predict', lambda: m.predict_on_batch(x))):
        fn(); fn(); t0 = time.perf_counter()
        for _ in range(steps): fn()
        out[f'{name}_img_s'] = round(steps * batch / (time.perf_counter() - t0), 2)
    return dict(out, precision=keras.mixed_precision.global_policy().name, peak_rss_mb=0)

def run_steps(side, py, work, tag, weights, unfreeze, steps, batch, fine_tune_layers) -> dict:
    out = work/f'steps-{side}-{tag}.json'
    cmd = ([sys.executable, __file__, '--one-steps', str(out), '--steps', str(steps)] if side == 'ours' else
           [py, str(HERE/'peer_torch.py'), 'steps', '--weights', str(weights), '--unfreeze', ','.join(unfreeze),
            '--out', str(out), '--steps', str(steps), '--batch', str(batch)])
    _, peak, _ = timed(cmd)
    r = json.loads(out.read_text()); r['peak_rss_mb'] = round(peak)
    return r

def machine() -> dict:
    from livertumor.core import git_commit
    from livertumor.train import cpu_info         # numpy and pandas only: TensorFlow is imported by the children
    info = cpu_info()
    import pandas as pd
    git = git_commit() or {}
    return dict(cpu=info['cpu'], flags=info['cpu_flags'], cores=info['cores'],
                commit=git.get('commit', 'unknown')[:7] + ('+dirty' if git.get('dirty') else ''),
                date=pd.Timestamp.now(tz='UTC').strftime('%Y-%m-%d'))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reps', type=int, default=2, help='interleaved pairs of each workload (default 2)')
    p.add_argument('--steps', type=int, default=10, help='timed steps per step workload (default 10)')
    p.add_argument('--peer-python', default=None); p.add_argument('--workdir', default=None)
    p.add_argument('--epochs', type=int, default=None, help="epochs per phase, both sides (default: preset full's, 10); "
                   "another value is a quick check of this script, not the benchmark")
    p.add_argument('--one-steps', default=None, help=argparse.SUPPRESS); p.add_argument('--one-export', default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    from livertumor.core import PRESETS
    full = PRESETS['full']
    if a.one_steps:                                     # child process: ours' step workloads
        Path(a.one_steps).write_text(json.dumps(ours_steps(a.steps, full['batch_size'], full['fine_tune_layers']))); return
    if a.one_export:                                    # child process: TensorFlow stays out of this one, whose size a fork copies
        w, u, o = export_weights(Path(a.one_export), full['fine_tune_layers'])
        (Path(a.one_export)/'export.json').write_text(json.dumps(dict(weights=str(w), unfreeze=u, origin=o))); return
    import pandas as pd
    from livertumor.core import write_text_atomic
    py = peer_python(a.peer_python)
    work = Path(a.workdir or tempfile.mkdtemp(prefix='vs_pytorch-')); work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, '--one-export', str(work)], check=True, capture_output=True)
    weights, unfreeze, origin = json.loads((work/'export.json').read_text()).values()
    diff = check_conversion(py, work, weights)
    print(f'peer weights: {origin}, converted; pooled features equal to Keras\' within {diff:.2g}; fine phase trains {len(unfreeze)} layers: '
          f'{unfreeze[0]} ... {unfreeze[-1]}', flush=True)
    rows, env = [], machine()
    for rep in range(a.reps):                           # A B A B: drift falls on both sides alike
        ours = run_ours(work, f'r{rep}', **({} if a.epochs is None else dict(epochs_head=a.epochs, epochs_fine=a.epochs))); rows.append(dict(workload='densenet121_study', rep=rep, **ours)); print(rows[-1], flush=True)
        peer = run_peer(py, work, f'r{rep}', ours['splits'], weights, unfreeze, a.epochs or full['epochs_head'])
        rows.append(dict(workload='densenet121_study', rep=rep, **peer)); print(rows[-1], flush=True)
    for rep in range(a.reps):
        for side in ('ours', 'peer'):
            r = run_steps(side, py, work, f'r{rep}', weights, unfreeze, a.steps, full['batch_size'], full['fine_tune_layers'])
            for w in ('train_step', 'predict'):
                rows.append(dict(workload=f'densenet121_{w}', rep=rep, side=side, wall_s=round(full['batch_size'] / r[f'{w}_img_s'], 3),
                                 train_img_s=r[f'{w}_img_s'], peak_rss_mb=r['peak_rss_mb'], precision=r['precision']))
                print(rows[-1], flush=True)
    detail = pd.DataFrame(rows).drop(columns='splits', errors='ignore').assign(**env)
    if a.epochs is not None: print(detail.to_string(index=False)); print('--epochs given: a check of this script, nothing written'); return
    write_text_atomic(HERE/'results'/'vs_pytorch.csv', detail.to_csv(index=False))
    med = detail.groupby(['workload', 'side'], sort=False)[['wall_s', 'test_acc']].median()
    summary = pd.DataFrame([dict(workload=w, ours_s=round(med.loc[(w, 'ours'), 'wall_s'], 3), peer_s=round(med.loc[(w, 'peer'), 'wall_s'], 3),
                                 ratio=round(med.loc[(w, 'ours'), 'wall_s'] / med.loc[(w, 'peer'), 'wall_s'], 3),
                                 ours_acc=med.loc[(w, 'ours'), 'test_acc'], peer_acc=med.loc[(w, 'peer'), 'test_acc'],
                                 **{k: env[k] for k in ('cpu', 'flags', 'commit', 'date')})
                            for w in detail.workload.unique()])[SUMMARY_COLUMNS]
    write_text_atomic(HERE/'results.csv', summary.to_csv(index=False))
    print(detail.drop(columns=['cpu', 'flags', 'commit', 'date'], errors='ignore').to_string(index=False))
    print(summary.to_string(index=False))
    print(f"written to {HERE/'results.csv'} and {HERE/'results'/'vs_pytorch.csv'}")

if __name__ == '__main__': main()

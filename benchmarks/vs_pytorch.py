"""Ours against what a researcher would write instead: livertumor's DenseNet121 study run (`nbs/train.ipynb` with
papermill, `preset=full`, the embedded SYNTHETIC set) and `benchmarks/peer_torch.py`, a plain PyTorch + torchvision
script of the same schedule on the same patients from the same ImageNet weights, in two variants: naive (eager) and
tuned (PyTorch's CPU performance guide: channels-last, torch.compile and DataLoader workers where its trial measures
them faster). The three sides run interleaved (ours, peer, peer_tuned, ours, ...) so that drift of this shared machine
falls on all alike.

    python benchmarks/vs_pytorch.py [--reps 2] [--steps 10] [--folds 3] [--workloads study,cv,train_step,predict] [--peer-python PATH]

The peer needs its own environment, never a dependency of livertumor or its CI:

    python -m venv .peer-venv && .peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1

(`--peer-python` or LIVERTUMOR_PEER_PYTHON names another interpreter). Four workloads, each three ways:
- densenet121_study: the whole run, wall time from process start to exit (ours includes papermill's kernel start), with
  its phases, training images per second, peak resident memory (the process tree's, from wait4) and test accuracy;
- densenet121_cv: the K-fold study by patient, ours `livertumor study --models DenseNet121 --preset full --folds K
  --patient-cv` (fold runs, pooling and its report, timed from outside), the peer's `cv` mode on the same folds' splits
  in one process; total seconds, each fold's seconds and test accuracy, pooled out-of-fold test accuracy;
- densenet121_train_step: steady-state seconds per fine-tuning step (batch 16, the same top layers trainable);
- densenet121_predict: steady-state seconds per prediction batch of 16.
Before timing, the peer's converted weights are checked (its pooled features must equal the Keras backbone's), and the
tuned peer's trial is run once, untimed, as a user tunes once per machine (`peer_torch.py steps --tuned --steps 3`):
its studies take their compile and worker choices from it. Every peer process gets a fresh torch.compile cache (cold).
Writes every measurement to benchmarks/results/vs_pytorch.csv and the summary (medians; one row per workload and peer,
naive or tuned; ratio = ours / peer, below 1 means ours is faster) to benchmarks/results.csv, with the CPU model and
flags, the commit and the date; rows of other CPU kinds (model and flags), and of workloads not run, are kept.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = ('study', 'cv', 'train_step', 'predict')
SIDES = ('ours', 'peer', 'peer_tuned')
SUMMARY_COLUMNS = ['workload', 'peer', 'ours_s', 'peer_s', 'ratio', 'ours_acc', 'peer_acc', 'cpu', 'flags', 'commit', 'date']

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

def tool(name) -> str:
    "A command of this interpreter's environment (its bin folder, which need not be on PATH), else from PATH."
    return str(p) if (p := Path(sys.executable).parent/name).is_file() else name

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
    cmd = [tool('papermill'), str(ROOT/'nbs'/'train.ipynb'), str(work/f'ours-{tag}.ipynb'), '-p', 'model', 'DenseNet121',
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

def peer_cmd(py, mode, weights, unfreeze, out, tuned=False, trial=None, *args) -> list:
    return ([py, str(HERE/'peer_torch.py'), mode, '--weights', str(weights), '--unfreeze', ','.join(unfreeze), '--out', str(out), *map(str, args)]
            + (['--tuned'] + (['--trial', str(trial)] if trial else []) if tuned else []))

def peer_env(work: Path, name: str) -> dict:
    "The environment of one peer process: its own empty torch.compile cache, so that every run compiles cold."
    return dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(work/f'inductor-{name}'))

def peer_variant(r) -> dict:
    return dict(precision=r['precision'], framework=r['framework'], variant=r['variant'])

def run_peer(py, work: Path, tag: str, splits, weights, unfreeze, epochs=10, tuned=False, trial=None) -> dict:
    side = 'peer_tuned' if tuned else 'peer'; out = work/f'{side}-{tag}.json'
    wall, peak, _ = timed(peer_cmd(py, 'study', weights, unfreeze, out, tuned, trial, '--splits', splits, '--epochs-head', epochs,
                                   '--epochs-fine', epochs), env=peer_env(work, f'{side}-{tag}'))
    r = json.loads(out.read_text()); s = r['seconds']
    return dict(side=side, wall_s=round(wall, 1), startup_s=round(wall - sum(v for k, v in s.items() if k != 'startup'), 1), trial_s=s['trial'],
                data_s=round(s['data'], 1), head_s=round(s['head'], 1), fine_s=round(s['fine'], 1), train_overhead_s=0.0,
                evaluate_s=round(s['evaluate'], 1), train_img_s=r['train_img_s'], peak_rss_mb=round(peak),
                test_acc=round(r['test_accuracy'], 4), train_acc=round(r['train_accuracy'], 4), n_train=r['n']['train'],
                xla=False, weights='imagenet (the same, converted)', **peer_variant(r))

CLI = "import sys; from livertumor import cli, study{}; sys.exit(cli.main(sys.argv[1:]))"
QUICK = "; tp = study.train_parameters; study.train_parameters = lambda *a, **k: tp(*a, **k, epochs_head={0}, epochs_fine={0})"

def ours_cv(work: Path, tag: str, folds: int, epochs=None) -> dict:
    "`livertumor study` of DenseNet121, K folds by patient, timed from the outside (`epochs`: the quick check's epochs per phase, patched in)."
    runs = work/f'cv-{tag}'
    args = ['study', '--models', 'DenseNet121', '--preset', 'full', '--folds', str(folds), '--patient-cv', '--runs', str(runs), '--figures', str(work/f'cvfig-{tag}')]
    cmd = [tool('livertumor'), *args] if epochs is None else [sys.executable, '-c', CLI.format(QUICK.format(epochs)), *args]
    wall, peak, _ = timed(cmd, cwd=ROOT)
    dirs = [runs/f'DenseNet121-fold{f}of{folds}' for f in range(folds)]
    fm, m = [json.loads((d/'metrics.json').read_text()) for d in dirs], json.loads((runs/'DenseNet121'/'metrics.json').read_text())
    return dict(side='ours', wall_s=round(wall, 1), startup_s=round(wall - sum(f['seconds'] for f in fm), 1),
                fold_s=';'.join(f"{f['seconds']:.1f}" for f in fm), fold_acc=';'.join(f"{f['test_accuracy']:.4f}" for f in fm),
                train_img_s=round(sum(f['n_train'] * f['epochs_trained'] for f in fm) / sum(f['train_seconds'] for f in fm), 2),
                peak_rss_mb=round(peak), test_acc=round(m['test_accuracy'], 4), train_acc=round(m['train_accuracy'], 4), n_test=m['n_test'],
                precision=m['precision'], xla=m['xla'], framework=f"livertumor (TensorFlow {fm[0]['versions'].get('tensorflow')}, "
                f"Keras {fm[0]['versions'].get('keras')})", splits=[d/'splits.csv' for d in dirs])

def peer_cv(py, work: Path, tag: str, splits, weights, unfreeze, epochs=10, tuned=False, trial=None) -> dict:
    side = 'peer_tuned' if tuned else 'peer'; out = work/f'{side}-cv-{tag}.json'
    wall, peak, _ = timed(peer_cmd(py, 'cv', weights, unfreeze, out, tuned, trial, '--splits', ','.join(map(str, splits)), '--epochs-head', epochs,
                                   '--epochs-fine', epochs), env=peer_env(work, f'{side}-cv-{tag}'))
    r = json.loads(out.read_text())
    return dict(side=side, wall_s=round(wall, 1), startup_s=round(wall - r['seconds']['folds'] - r['seconds']['trial'], 1), trial_s=r['seconds']['trial'],
                fold_s=';'.join(f'{v:.1f}' for v in r['fold_seconds']), fold_acc=';'.join(f'{v:.4f}' for v in r['fold_test_accuracy']),
                train_img_s=r['train_img_s'], peak_rss_mb=round(peak), test_acc=round(r['test_accuracy'], 4),
                train_acc=round(r['train_accuracy'], 4), n_test=r['n_test'], xla=False, **peer_variant(r))

def ours_steps(steps: int, batch: int, fine_tune_layers: int) -> dict:
    "Steady-state images/s of livertumor's fine-tuning step and prediction, as train.ipynb compiles them, on random images."
    import numpy as np, keras
    from livertumor.models import build_classifier, load_backbone, set_trainable
    from livertumor.train import compile_classifier, choose_precision, use_xla
    keras.mixed_precision.set_global_policy(choose_precision('auto'))
    bb, _ = load_backbone('DenseNet121', 224, 'auto')
    m = build_classifier(bb); set_trainable(bb, fine_tune_layers); compile_classifier(m, 1e-5, use_xla('auto'))
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
           peer_cmd(py, 'steps', weights, unfreeze, out, side == 'peer_tuned', None, '--steps', steps, '--batch', batch))
    _, peak, _ = timed(cmd, env=peer_env(work, f'steps-{side}-{tag}'))
    r = json.loads(out.read_text()); r['peak_rss_mb'] = round(peak)
    return r

def merge(path: Path, new, env: dict):
    "`path`'s table with `new` in place of its rows of this CPU kind (model and flags) and `new`'s workloads; other rows kept."
    import pandas as pd
    from livertumor.core import write_text_atomic
    if path.is_file():
        old = pd.read_csv(path)
        if 'peer' in new and 'peer' not in old: old.insert(1, 'peer', 'naive')     # summary rows from before the tuned peer
        mine = (old['cpu'] == env['cpu']) & (old['flags'] == env['flags']) & old['workload'].isin(new['workload'])   # old.flags would be pandas' own attribute
        new = pd.concat([old[~mine], new], ignore_index=True)[list(new.columns) + [c for c in old.columns if c not in new.columns]]
    write_text_atomic(path, new.to_csv(index=False))

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
    p.add_argument('--reps', type=int, default=2, help='interleaved rounds of each workload (default 2)')
    p.add_argument('--steps', type=int, default=10, help='timed steps per step workload (default 10)')
    p.add_argument('--folds', type=int, default=3, help='folds of the cross-validated workload (default 3)')
    p.add_argument('--workloads', default=','.join(WORKLOADS), help=f"comma-separated, of {', '.join(WORKLOADS)} (default all)")
    p.add_argument('--peer-python', default=None); p.add_argument('--workdir', default=None)
    p.add_argument('--epochs', type=int, default=None, help="epochs per phase, every side (default: preset full's, 10); "
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
    py = peer_python(a.peer_python)
    todo = [w.strip().removeprefix('densenet121_') for w in a.workloads.split(',') if w.strip()]
    if not todo or (bad := [w for w in todo if w not in WORKLOADS]): raise SystemExit(f"--workloads {a.workloads}: give some of {', '.join(WORKLOADS)}")
    if a.folds < 2: raise SystemExit(f'--folds {a.folds}: the cross-validated workload needs 2 or more')
    import pandas as pd
    work = Path(a.workdir or tempfile.mkdtemp(prefix='vs_pytorch-')); work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, '--one-export', str(work)], check=True, capture_output=True)
    weights, unfreeze, origin = json.loads((work/'export.json').read_text()).values()
    diff = check_conversion(py, work, weights)
    print(f'peer weights: {origin}, converted; pooled features equal to Keras\' within {diff:.2g}; fine phase trains {len(unfreeze)} layers: '
          f'{unfreeze[0]} ... {unfreeze[-1]}', flush=True)
    trial = None
    if {'study', 'cv'} & set(todo):                     # the tuned peer's trial, once, untimed: its studies take their choices from it
        trial = work/'trial.json'
        timed(peer_cmd(py, 'steps', weights, unfreeze, trial, True, None, '--steps', 3), env=peer_env(work, 'trial'))
        t = json.loads(trial.read_text()); print(f"tuned peer's trial: {json.dumps(t['trial'])}", flush=True)
    rows, env, epochs = [], machine(), a.epochs or full['epochs_head']
    quick = {} if a.epochs is None else dict(epochs_head=a.epochs, epochs_fine=a.epochs)
    def add(workload, rep, r): rows.append(dict(workload=workload, rep=rep, **r)); print({k: v for k, v in rows[-1].items() if k != 'splits'}, flush=True)
    for rep in range(a.reps if 'study' in todo else 0):     # ours, peer, peer_tuned, ours, ...: drift falls on all alike
        ours = run_ours(work, f'r{rep}', **quick); add('densenet121_study', rep, ours)
        for tuned in (False, True): add('densenet121_study', rep, run_peer(py, work, f'r{rep}', ours['splits'], weights, unfreeze, epochs, tuned, trial))
    for rep in range(a.reps if 'cv' in todo else 0):
        ours = ours_cv(work, f'r{rep}', a.folds, a.epochs); add('densenet121_cv', rep, ours)
        for tuned in (False, True): add('densenet121_cv', rep, peer_cv(py, work, f'r{rep}', ours['splits'], weights, unfreeze, epochs, tuned, trial))
    steps = [w for w in ('train_step', 'predict') if w in todo]
    for rep in range(a.reps if steps else 0):
        for side in SIDES:
            r = run_steps(side, py, work, f'r{rep}', weights, unfreeze, a.steps, full['batch_size'], full['fine_tune_layers'])
            for w in steps:
                add(f'densenet121_{w}', rep, dict(side=side, wall_s=round(full['batch_size'] / r[f'{w}_img_s'], 3), train_img_s=r[f'{w}_img_s'],
                                                  peak_rss_mb=r['peak_rss_mb'], precision=r['precision'], **({'variant': r['variant']} if 'variant' in r else {})))
    detail = pd.DataFrame(rows).drop(columns='splits', errors='ignore').assign(**env)
    if 'test_acc' not in detail: detail['test_acc'] = float('nan')       # the step workloads alone
    shown = detail.drop(columns=['cpu', 'flags', 'commit', 'date', 'framework', 'variant', 'weights'], errors='ignore')
    med = detail.groupby(['workload', 'side'], sort=False)[['wall_s', 'test_acc']].median()
    summary = pd.DataFrame([dict(workload=w, peer=name, ours_s=round(med.loc[(w, 'ours'), 'wall_s'], 3), peer_s=round(med.loc[(w, side), 'wall_s'], 3),
                                 ratio=round(med.loc[(w, 'ours'), 'wall_s'] / med.loc[(w, side), 'wall_s'], 3),
                                 ours_acc=med.loc[(w, 'ours'), 'test_acc'], peer_acc=med.loc[(w, side), 'test_acc'],
                                 **{k: env[k] for k in ('cpu', 'flags', 'commit', 'date')})
                            for w in detail.workload.unique() for side, name in (('peer', 'naive'), ('peer_tuned', 'tuned'))])[SUMMARY_COLUMNS]
    print(shown.to_string(index=False)); print(summary.drop(columns=['cpu', 'flags']).to_string(index=False))
    for v in detail.dropna(subset=['variant']).drop_duplicates(['workload', 'side']).itertuples(): print(f'{v.workload} {v.side}: {v.variant}')
    if a.epochs is not None: print('--epochs given: a check of this script, nothing written'); return
    merge(HERE/'results'/'vs_pytorch.csv', detail, env); merge(HERE/'results.csv', summary, env)
    print(f"written to {HERE/'results.csv'} and {HERE/'results'/'vs_pytorch.csv'} (rows of other CPU kinds kept)")

if __name__ == '__main__': main()

"""Wall-clock time of whole training runs, as a user starts them: `papermill nbs/train.ipynb ... -p model M -p preset P`.

    python benchmarks/runs.py [--models DenseNet121] [--presets smoke,full] [--weights auto,none]

Each run goes into a temporary folder that is deleted afterwards. Writes benchmarks/results/runs.csv with, per run,
the wall time of the papermill command (kernel start and imports included), the notebook's own `seconds` from
metrics.json, the weights really used, the recipe, and the machine's CPU model, core count and speed-relevant flags. The budgets checked against these numbers
(full DenseNet121 under 15 minutes, smoke about a minute) are read in nbs/08_train.ipynb.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def timed_run(model, preset, weights, folder):
    "Run the training notebook once; its wall time in seconds and its metrics.json."
    out = Path(folder)/model
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, '-m', 'papermill', 'nbs/train.ipynb', str(Path(folder)/'out.ipynb'),
                        '-p', 'model', model, '-p', 'preset', preset, '-p', 'weights', weights, '-p', 'out_dir', str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0: sys.exit(f'{model} {preset} weights={weights} failed:\n{r.stderr[-3000:]}')
    return wall, json.loads((out/'metrics.json').read_text())

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', default='DenseNet121'); p.add_argument('--presets', default='smoke,full')
    p.add_argument('--weights', default='auto', help="comma-separated: 'auto' (ImageNet, fine-tuned), 'none' (from scratch)")
    a = p.parse_args()
    import pandas as pd
    from livertumor.train import cpu_info
    rows = []
    for model in a.models.split(','):
        for preset, weights in ((p, w) for p in a.presets.split(',') for w in a.weights.split(',')):
            with tempfile.TemporaryDirectory() as d: wall, m = timed_run(model, preset, weights, d)
            rows.append(dict(model=model, preset=preset, wall_s=round(wall, 1), notebook_s=m['seconds'],
                             weights_used=m['weights_used'], precision=m['precision'], xla=m['xla'],
                             n_train=m['n_train'], recipe=m['recipe'], epochs=m['epochs_trained'], **cpu_info()))
            print(rows[-1], flush=True)
    out = ROOT/'benchmarks'/'results'/'runs.csv'
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    print(f'wrote {out}')

if __name__ == '__main__': main()

"""Wall-clock time of whole training runs, as a user starts them: `papermill nbs/train.ipynb ... -p model M -p preset P`.

    python benchmarks/runs.py [--models DenseNet121] [--presets smoke,full]

Each run goes into a temporary folder that is deleted afterwards. Writes benchmarks/results/runs.csv with, per run,
the wall time of the papermill command (kernel start and imports included), the notebook's own `seconds` from
metrics.json, the weights really used and the machine's core count. The budgets checked against these numbers
(full DenseNet121 under 15 minutes, smoke about a minute) are read in nbs/08_train.ipynb.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def timed_run(model, preset, folder):
    "Run the training notebook once; its wall time in seconds and its metrics.json."
    out = Path(folder)/model
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, '-m', 'papermill', 'nbs/train.ipynb', str(Path(folder)/'out.ipynb'),
                        '-p', 'model', model, '-p', 'preset', preset, '-p', 'out_dir', str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0: sys.exit(f'{model} {preset} failed:\n{r.stderr[-3000:]}')
    return wall, json.loads((out/'metrics.json').read_text())

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', default='DenseNet121'); p.add_argument('--presets', default='smoke,full')
    a = p.parse_args()
    import pandas as pd
    rows = []
    for model in a.models.split(','):
        for preset in a.presets.split(','):
            with tempfile.TemporaryDirectory() as d: wall, m = timed_run(model, preset, d)
            rows.append(dict(model=model, preset=preset, wall_s=round(wall, 1), notebook_s=m['seconds'],
                             weights_used=m['weights_used'], precision=m['precision'], xla=m['xla'],
                             n_train=m['n_train'], epochs=m['epochs_head'] + m['epochs_fine'], cores=os.cpu_count()))
            print(rows[-1], flush=True)
    out = ROOT/'benchmarks'/'results'/'runs.csv'
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    print(f'wrote {out}')

if __name__ == '__main__': main()

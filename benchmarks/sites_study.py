"""The headline model under patient CV and under site-preserved CV on the synthetic set at each `site_confound`: the shortcut a model takes.

    python benchmarks/sites_study.py [--confounds 0] [--model DenseNet121] [--preset full]

For each site_confound, the embedded set is generated with its other parameters into a temporary folder, and the study
runs on it as the main job does (`livertumor study --models <model> --preset full --compare-protocols`, seed 42, 3 folds):
the site probe on the model's frozen features, the model on site-preserved folds and on folds by patient, and the report's
paired comparison of the two on the same patients, as the report writes them to figures/sites_summary.json. The main job itself measures the default (site_confound 1); this script
measures the others. Writes benchmarks/results/sites_study.csv with the commit and the machine.
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--confounds', default='0'); p.add_argument('--model', default='DenseNet121'); p.add_argument('--preset', default='full')
    a = p.parse_args()
    import pandas as pd
    from livertumor.cli import main as cli
    from livertumor.core import git_commit
    from livertumor.synthetic import ensure_synthetic, site_demonstration
    from livertumor.train import cpu_info
    rows, commit = [], git_commit(ROOT)
    out = ROOT/'benchmarks'/'results'/'sites_study.csv'
    for c in [float(x) for x in a.confounds.split(',')]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            data = ensure_synthetic(Path(tmp)/'synthetic', site_confound=c)
            runs, figures = Path(tmp)/'runs', Path(tmp)/'figures'
            code = cli(['study', '--models', a.model, '--preset', a.preset, '--compare-protocols', '--data', str(data), '--runs', str(runs), '--figures', str(figures)])
            if code: raise SystemExit(f'the study at site_confound {c} failed (exit {code})')
            d = site_demonstration(figures).query("source == 'main job (figures/)'").iloc[0]   # the report's figures/sites_summary.json, read as the README reads it
            rows.append(dict(d.drop(['commit', 'cpu', 'source']), site_confound=c, model=a.model, preset=a.preset,
                             seconds=round(time.perf_counter() - t0, 1), commit=commit['commit'][:7] + ('-dirty' if commit['dirty'] else ''), **cpu_info()))
            print(rows[-1], flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(out, index=False)
    print(f'wrote {out}')

if __name__ == '__main__': main()

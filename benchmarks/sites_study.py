"""The headline model under patient CV and under site-preserved CV on the synthetic set at each `site_confound`: the shortcut a model takes.

    python benchmarks/sites_study.py [--confounds 0] [--model DenseNet121] [--preset full]

For each site_confound, the embedded set is generated with its other parameters into a temporary folder, and the study
runs on it as the main job does (`livertumor study --models <model> --preset full --compare-protocols`, seed 42, 3 folds):
the site probe on the model's frozen features, the model on site-preserved folds and on folds by patient, and the report's
paired comparison of the two on the same patients. The main job itself measures the default (site_confound 1); this script
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
    from livertumor.data import load_dataset
    from livertumor.stats import site_association
    from livertumor.synthetic import ensure_synthetic
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
            assoc, probe = site_association(load_dataset(data)), json.loads((runs/'site_probe.json').read_text())
            res = pd.read_csv(figures/'results.csv').set_index('Protocol')
            pair = pd.read_csv(figures/'comparisons.csv').query("Question == 'patient CV against site-preserved CV'").iloc[0]
            acc = lambda proto: res.loc[res.index.str.startswith(proto), 'Test Accuracy'].iloc[0]
            ci = lambda proto: res.loc[res.index.str.startswith(proto), 'Test 95% CI (by case)'].iloc[0]
            rows.append(dict(site_confound=c, model=a.model, cramers_v=round(assoc['cramers_v'], 4), p_value=assoc['p_value'],
                             unshared_classes='+'.join(assoc['unshared_classes']), n_sites=assoc['n_sites'], n_patients=assoc['n_patients'],
                             probe_backbone=probe['backbone'], probe_weights=probe['weights'], probe_accuracy=round(probe['accuracy'], 4),
                             probe_ci_low=round(probe['ci'][0], 4), probe_ci_high=round(probe['ci'][1], 4), probe_majority=round(probe['majority'], 4),
                             probe_signal=probe['signal'], patient_cv_accuracy=acc('patient CV'), patient_cv_ci=ci('patient CV'),
                             site_preserved_accuracy=acc('site-preserved CV'), site_preserved_ci=ci('site-preserved CV'),
                             paired_difference=pair['Difference (A − B)'], paired_ci=pair['95% CI (paired, by case)'], mcnemar_p=pair['McNemar p'],
                             holm_p=pair['Holm p'], test_cases=pair['Test cases'], preset=a.preset, seconds=round(time.perf_counter() - t0, 1),
                             commit=commit['commit'][:7] + ('-dirty' if commit['dirty'] else ''), **cpu_info()))
            print(rows[-1], flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(out, index=False)
    print(f'wrote {out}')

if __name__ == '__main__': main()

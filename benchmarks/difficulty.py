"""How hard the embedded SYNTHETIC dataset is at each `difficulty`: the measurement its default is chosen by.

    python benchmarks/difficulty.py [--difficulties 0.3,0.6,0.9] [--models DenseNet121,EfficientNetLite0] [--preset full]

For each difficulty, a dataset is generated with the embedded set's other parameters (210 images, 42 cases) into a
temporary folder, each model is trained on it with nbs/train.ipynb (ImageNet weights where available, seed 42, so the
split is the one the study uses), and the HOG + PCA logistic regression of 11_classical is fitted on the same split.
Writes benchmarks/results/difficulty.csv: test accuracy with its 95% interval by case, train accuracy, the weights
used, the commit and the machine. nbs/01_synthetic.ipynb reads that file and states the rule that picks the default:
the smallest difficulty on the grid at which the best pre-trained model is below 100% test accuracy and its interval's
upper end is below 100% too, while its accuracy stays well above chance (at least 0.6, chance being 1/3).
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--difficulties', default='0.3,0.6,0.9'); p.add_argument('--models', default='DenseNet121,EfficientNetLite0')
    p.add_argument('--preset', default='full'); p.add_argument('--seed', type=int, default=42)
    a = p.parse_args()
    import pandas as pd
    from livertumor.study import run_train
    from livertumor.classical import run_classical
    from livertumor.core import git_commit
    from livertumor.synthetic import ensure_synthetic
    from livertumor.train import cpu_info
    rows, commit = [], git_commit(ROOT)
    out = ROOT/'benchmarks'/'results'/'difficulty.csv'
    for d in [float(x) for x in a.difficulties.split(',')]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            data = ensure_synthetic(Path(tmp)/'synthetic', difficulty=d)
            print(f'difficulty {d}: dataset in {time.perf_counter() - t0:.0f} s', flush=True)
            runs, splits = [], ''
            for m in a.models.split(','):
                t0 = time.perf_counter()
                runs.append(run_train(m, preset=a.preset, data=str(data), seed=a.seed, runs=Path(tmp)/'runs', splits=splits))
                splits = splits or str(runs[0]/'splits.csv')
                print(f'difficulty {d}: {m} in {time.perf_counter() - t0:.0f} s', flush=True)
            runs += run_classical(splits, Path(tmp)/'runs', names=['LogisticRegression'], seed=a.seed)
            for r in runs:
                mt = json.loads((r/'metrics.json').read_text())
                rows.append(dict(difficulty=d, model=mt['model'], weights_used=mt['weights_used'], preset=a.preset,
                                 train_accuracy=round(mt['train_accuracy'], 4), test_accuracy=round(mt['test_accuracy'], 4),
                                 ci_low=round(mt['test_accuracy_ci'][0], 4), ci_high=round(mt['test_accuracy_ci'][1], 4),
                                 n_test=mt['n_test'], test_cases=mt['n_cases']['test'], seconds=mt['seconds'],
                                 commit=commit['commit'][:7] + ('-dirty' if commit['dirty'] else ''), **cpu_info()))
                print(rows[-1], flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(out, index=False)     # after every difficulty: a killed sweep keeps what it measured
    print(f'wrote {out}')

if __name__ == '__main__': main()

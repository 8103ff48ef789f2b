"""Where a cross-validated study's time goes, item by item, from the runs folders that studies left (no run is repeated here):
each fold's executed `train.ipynb` (papermill's per-cell seconds), its `history.csv` (per-epoch seconds) and `metrics.json`,
and the MIL, classical and report records. Given two runs folders (before and after a change, made on the same machine
kind), it prints them side by side.

    python benchmarks/study_profile.py RUNS_AFTER [RUNS_BEFORE] [--label-after X --label-before Y] [--write]

Items per fold run, medians over the folds of each run kind (DenseNet121 fine-tuned, EfficientNetLite0 fine-tuned, from scratch):
- start: kernel start and the import cell (papermill's duration minus the other cells);
- data: finding and checking the images, the split, the example figure; pipelines: building the input pipelines (and, since
  the image cache, decoding); model: building the backbone and loading its weights;
- first_epoch_extra: the first epoch of each phase minus the phase's median epoch (tracing the training and validation
  functions, and decoding when that happens in the first epoch), summed over the phases; epochs: every other epoch;
- train_other: the training cell beyond its epochs (resume saves, learning-curve figure);
- evaluate: predicting every split, metrics and their bootstraps, figures; save: the model and the record.
Study items: MIL embeddings (seconds per backbone), classical baselines, report; and the whole study, from the
`figures/study.json` the study wrote next to its runs folder (`--study-json` names another), with that study's own CPU,
flags and commit: the README lists the newest of these rows per CPU kind. `--write` appends the rows to
benchmarks/results/study_profile.csv with the CPU of this machine; the runs' own commits and CPUs are in the rows.
"""
import argparse, json, sys
from pathlib import Path
import pandas as pd

HERE = Path(__file__).resolve().parent

def _cells(nb:dict) -> dict:
    "Seconds per train.ipynb step, by the step's heading."
    out, step = {}, 'start'
    steps = {'1': 'start', '2': 'data', '3': 'data', '4': 'pipelines', '5': 'model', '6': 'train', '7': 'evaluate', '8': 'save'}
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown' and src.startswith('## '): step = steps.get(src[3], 'start')
        out[step] = out.get(step, 0) + (c.get('metadata', {}).get('papermill', {}).get('duration') or 0)
    total = nb['metadata']['papermill']['duration']
    out['start'] += total - sum(out.values())            # kernel start, outside every cell
    return out

def fold_profile(runs:Path) -> pd.DataFrame:
    "One row per fold run of `runs` with the items' seconds."
    rows = []
    for nb_path in sorted(runs.glob('*-fold*of*.ipynb')):
        run = runs/nb_path.stem
        if not (run/'metrics.json').is_file(): continue
        m, h = json.loads((run/'metrics.json').read_text()), pd.read_csv(run/'history.csv')
        c = _cells(json.loads(nb_path.read_text()))
        g = h.groupby('phase', sort=False).epoch_seconds
        extra = float((g.first() - g.median()).sum())
        kind = f"{m['model']} {'from scratch' if m['recipe'] == 'from_scratch' else 'fine-tuned'}"
        rows.append(dict(run=run.name, kind=kind, start=c['start'], data=c.get('data', 0), pipelines=c.get('pipelines', 0), model=c.get('model', 0),
                         first_epoch_extra=extra,
                         train_other=c.get('train', 0) - float(h.epoch_seconds.sum()), evaluate=c.get('evaluate', 0), save=c.get('save', 0),
                         total=sum(c.values()), commit=(m.get('git') or {}).get('commit', '?')[:7], cpu=m.get('cpu'), precision=m.get('precision')))
    d = pd.DataFrame(rows)
    if len(d): d['epochs'] = d.total - d[[i for i in ITEMS if i not in ('epochs', 'total')]].sum(axis=1)   # the epochs less their first-epoch extra
    return d

def study_items(runs:Path) -> dict:
    "Seconds of the study's other steps, from their records."
    out = {}
    for f in sorted(runs.glob('*-attention*fold*/metrics.json')) + sorted(runs.glob('*-attention/metrics.json')):
        m = json.loads(f.read_text())
        if m.get('embedding_cache_hit') is False: out[f"MIL embeddings {m['backbone']}"] = out.get(f"MIL embeddings {m['backbone']}", 0) + m['embedding_seconds']
    cl = [json.loads(f.read_text()).get('seconds', 0) for f in runs.glob('*-hog*fold*of*/metrics.json')]
    if cl: out['classical baselines'] = sum(cl)
    if (runs/'report.ipynb').is_file(): out['report'] = json.loads((runs/'report.ipynb').read_text())['metadata']['papermill']['duration']
    return out

ITEMS = ['start', 'data', 'pipelines', 'model', 'first_epoch_extra', 'epochs', 'train_other', 'evaluate', 'save', 'total']

def whole_study(study_json:Path, label:str) -> pd.DataFrame:
    "The row of a study's own record (figures/study.json): its minutes, runs, CPU, flags, precision and commit."
    s = json.loads(Path(study_json).read_text())
    return pd.DataFrame([dict(side=label, kind='study', item='whole study', seconds=round(s['minutes'] * 60, 1), n_folds=s['runs_ran'],
                              commit=str((s.get('git') or {}).get('commit', '?'))[:7], run_cpu=s['cpu'], precision=', '.join(s.get('precision') or []),
                              cpu_flags=s['cpu_flags'], date=s['finished'][:10])])

def profile(runs:Path, label:str, study_json:Path|None=None) -> pd.DataFrame:
    d = fold_profile(runs)
    if d.empty: raise SystemExit(f'{runs}: no finished fold run with its executed notebook')
    med = d.groupby('kind')[ITEMS].median().round(1)
    rows = [dict(side=label, kind=k, item=i, seconds=float(med.loc[k, i]), n_folds=int((d.kind == k).sum())) for k in med.index for i in ITEMS]
    rows += [dict(side=label, kind='study', item=i, seconds=round(s, 1), n_folds=None) for i, s in study_items(runs).items()]
    meta = d.iloc[0]
    out = pd.DataFrame(rows).assign(commit=meta.commit, run_cpu=meta.cpu, precision=meta.precision)
    study_json = study_json or runs.resolve().parent/'figures'/'study.json'
    return pd.concat([out, whole_study(study_json, label)], ignore_index=True) if Path(study_json).is_file() else out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('after'); p.add_argument('before', nargs='?')
    p.add_argument('--label-after', default='after'); p.add_argument('--label-before', default='before')
    p.add_argument('--study-json', type=Path, help="the after study's record (default: figures/study.json beside its runs folder)")
    p.add_argument('--write', action='store_true', help='append to benchmarks/results/study_profile.csv')
    a = p.parse_args()
    t = pd.concat([profile(Path(a.after), a.label_after, a.study_json)] + ([profile(Path(a.before), a.label_before)] if a.before else []))
    wide = t.pivot_table(index=['kind', 'item'], columns='side', values='seconds', sort=False)
    if a.before: wide['change_s'] = (wide[a.label_after] - wide[a.label_before]).round(1)
    print(wide.to_string())
    print(t.drop_duplicates('side')[['side', 'commit', 'run_cpu', 'precision']].to_string(index=False))
    if a.write:
        sys.path.insert(0, str(HERE.parent))
        from livertumor.train import cpu_info
        out = HERE/'results'/'study_profile.csv'
        old = pd.read_csv(out) if out.is_file() else None
        here = dict(cpu_flags=cpu_info()['cpu_flags'], date=pd.Timestamp.now(tz='UTC').strftime('%Y-%m-%d'))
        t = t.assign(**{k: t[k].fillna(v) if k in t else v for k, v in here.items()})   # the whole-study row keeps its study's own
        pd.concat([old, t]).to_csv(out, index=False); print(f'appended to {out}')

if __name__ == '__main__': main()

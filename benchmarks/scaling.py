"""Scaling: livertumor's DenseNet121 run (`nbs/train.ipynb` with papermill, preset full) on 1x, 2x and 4x the embedded
SYNTHETIC set, with the decoded-image cache on disk, on this machine.

    python benchmarks/scaling.py [--scales 1,2,4] [--epochs 2]

The k-times set holds k copies of every image (symbolic links), each copy under a case id of its own, so splitting,
manifest handling, training and aggregation all see k times the images and cases. Each run has `--epochs` epochs per
phase (default 2, to keep the 4x run short: the question is how time grows with the data, not the schedule). Prints and
writes benchmarks/results/scaling.csv: wall time, training seconds per image and epoch (flat if training time is linear),
the data cell's and the evaluation cell's seconds, peak resident memory of the process tree (flat with the cache on disk),
with the CPU, its flags and the commit.
"""
import argparse, json, os, tempfile
from pathlib import Path

from vs_pytorch import HERE, machine, run_ours

def scaled_copy(root: Path, k: int, out: Path) -> Path:
    "A dataset folder holding k copies of every image of `root` (symbolic links), each copy a case of its own."
    import pandas as pd
    from livertumor.core import read_table
    m = read_table(root/'manifest.csv', 'manifest')
    rows = []
    for c in range(k):
        for r in m.itertuples():
            rel = Path(r.path); dst = out/rel.parent/f'{rel.stem}_copy{c}{rel.suffix}'
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists(): os.symlink((root/rel).resolve(), dst)
            rows.append({**r._asdict(), 'path': str(dst.relative_to(out)), 'case_id': f'{r.case_id}-copy{c}'})
    pd.DataFrame(rows).drop(columns='Index').to_csv(out/'manifest.csv', index=False)
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--scales', default='1,2,4'); p.add_argument('--epochs', type=int, default=2); p.add_argument('--workdir', default=None)
    a = p.parse_args()
    import pandas as pd
    from livertumor.core import write_text_atomic
    from livertumor.synthetic import ensure_synthetic
    work = Path(a.workdir or tempfile.mkdtemp(prefix='scaling-')); work.mkdir(parents=True, exist_ok=True)
    root, rows = ensure_synthetic(), []
    for k in [int(s) for s in a.scales.split(',')]:
        data = scaled_copy(root, k, work/f'data-{k}x')
        r = run_ours(work, f'{k}x', data=data, cache=work/f'cache-{k}x', epochs_head=a.epochs, epochs_fine=a.epochs)
        train_s = r['head_s'] + r['fine_s']
        rows.append(dict(scale=k, images=len(pd.read_csv(data/'manifest.csv')), n_train=r['n_train'], epochs=2 * a.epochs,
                         wall_s=r['wall_s'], train_s=round(train_s, 1), train_ms_per_image_epoch=round(1000 * train_s / (r['n_train'] * 2 * a.epochs), 1),
                         data_s=r['data_s'], evaluate_s=r['evaluate_s'], peak_rss_mb=r['peak_rss_mb'], test_acc=r['test_acc'],
                         precision=r['precision'], cache='disk'))
        print(rows[-1], flush=True)
    t = pd.DataFrame(rows)
    base = t.iloc[0]
    t = t.assign(train_s_vs_linear=(t.train_s / (base.train_s * t.scale / base.scale)).round(3),
                 peak_rss_vs_1x=(t.peak_rss_mb / base.peak_rss_mb).round(3), **machine())
    write_text_atomic(HERE/'results'/'scaling.csv', t.to_csv(index=False))
    print(t.to_string(index=False)); print(f"written to {HERE/'results'/'scaling.csv'}")

if __name__ == '__main__': main()

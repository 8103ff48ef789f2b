"""Slide-map benchmark: tiles per second of `livertumor predict RUN SLIDE --heatmap` (`heatmap.slide_maps`) on a SYNTHETIC whole
slide, against the same model's `model.predict` on the same tiles already read and resized, on this machine; and the mapping's peak memory.

    python benchmarks/heatmap.py [--slide-size 6144] [--run RUN_DIR]

The slide is made by `livertumor synth --slides 1` in its own process, so the peak resident memory recorded is the mapping's
(model, streamed tiles, overlays), not the generator's. Without --run it saves a DenseNet121 (random weights: speed does not
depend on them) at 224 px, at the precision a run would pick here, as a run trained on the embedded set's field (856 px at
0.5 µm per pixel). Each side is warmed up once. `slide_maps` pays a fixed cost per call (loading the model, the tissue finder,
the thumbnail and the overlays), so the rate is judged on the steady state, the extra time of a slide of four times the area
over one of the asked size, against `model.predict` on pre-loaded tiles (target ratio at least 0.8). Prints one line per number
and appends them with the CPU and commit to benchmarks/results/heatmap.csv.
"""
import argparse, json, resource, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from predict import make_run    # one way to make a benchmark run folder

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--slide-size', type=int, default=6144); p.add_argument('--run', default=None); p.add_argument('--batch', type=int, default=32)
    a = p.parse_args()
    import numpy as np, pandas as pd
    from livertumor.core import git_commit, write_json_atomic, write_text_atomic
    from livertumor.data import resolve_data
    from livertumor.heatmap import map_slide, run_classifier, slide_grid, slide_maps
    from livertumor.models import get_backbone
    from livertumor.predict import load_for_inference, model_inputs, training_geometry, run_provenance
    from livertumor.slides import open_slide, read_region
    from livertumor.train import choose_precision, cpu_info
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.run: run = Path(a.run)
        else:
            run = make_run(tmp/'run')
            m = json.loads((run/'metrics.json').read_text()); write_json_atomic(run/'metrics.json', dict(m, data_path=str(resolve_data('synthetic'))))
        sizes = {a.slide_size: None, 2 * a.slide_size: None}
        for s in sizes:
            r = subprocess.run([str(Path(sys.executable).parent/'livertumor'), 'synth', '--slides', '1', '--slide-size', str(s), '--out', str(tmp/f'slides{s}')],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr[-2000:]
            sizes[s] = next((tmp/f'slides{s}').glob('*.tiff'))
        geo = training_geometry(run_provenance(run))
        slide_maps(run, [sizes[a.slide_size]], tmp/'warm')                               # warm-up: libraries, the traced predict step
        took, tiles = {}, {}
        for s, path in sizes.items():
            t0 = time.perf_counter(); table, _ = slide_maps(run, [path], tmp/f'maps{s}', batch_size=a.batch); took[s] = time.perf_counter() - t0
            assert (table.error == '').all(), table.error.tolist()
            tiles[s] = int(table.tiles.iloc[0])
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        small, big = a.slide_size, 2 * a.slide_size
        steady = (took[big] - took[small]) / (tiles[big] - tiles[small])                  # s per tile beyond the fixed cost
        slide = open_slide(sizes[big]); grid, _ = slide_grid(slide, geo['tile_size'], geo['um_per_px'])
        model, info = load_for_inference(run); prep = get_backbone(info['backbone']).preprocess()
        x = model_inputs([read_region(slide, r.x, r.y, r.side, geo['tile_size']) for r in grid.itertuples()], info['image_size'])
        model.predict(prep(x[:a.batch].astype('float32')), batch_size=a.batch, verbose=0)     # warm-up
        t0 = time.perf_counter(); model.predict(prep(x.astype('float32')), batch_size=a.batch, verbose=0); plain = time.perf_counter() - t0
    n = len(x)
    row = dict(workload='densenet121_heatmap', slide_px=small, slide_px_large=big, tiles=tiles[small], tiles_large=tiles[big],
               tile_px=geo['tile_size'], um_per_px=geo['um_per_px'], input_px=info['image_size'], batch=a.batch, precision=choose_precision('auto'),
               heatmap_tiles_per_s=round(tiles[small] / took[small], 2), heatmap_steady_tiles_per_s=round(1 / steady, 2),
               preloaded_tiles_per_s=round(n / plain, 2), ratio_steady=round(plain / n / steady, 3), fixed_s=round(took[small] - tiles[small] * steady, 2),
               peak_rss_mb=round(rss_mb), **cpu_info(), commit=git_commit()['commit'][:10], dirty=git_commit()['dirty'], measured=time.strftime('%Y-%m-%d'))
    for k in ('heatmap_steady_tiles_per_s', 'preloaded_tiles_per_s', 'ratio_steady', 'heatmap_tiles_per_s', 'fixed_s', 'tiles', 'tiles_large', 'peak_rss_mb'):
        print(f'{k}: {row[k]}')
    print(f"cpu: {row['cpu']} ({row['cores']} cores; {row['cpu_flags']}); precision {row['precision']}; target ratio_steady >= 0.8")
    out = Path(__file__).parent/'results'/'heatmap.csv'
    table = pd.concat([pd.read_csv(out), pd.DataFrame([row])], ignore_index=True) if out.is_file() else pd.DataFrame([row])
    write_text_atomic(out, table.to_csv(index=False)); print(f'appended to {out}')
    print(json.dumps(row))

if __name__ == '__main__': main()

"""Prediction benchmark: images per second of `livertumor.predict.predict_files` on a folder of 856-px images, against the
same model's `model.predict` on arrays already decoded and resized, on this machine.

    python benchmarks/predict.py [--images 96] [--run RUN_DIR]

Each `predict_files` call loads the model and traces its predict step once (a fixed cost, printed); the loading path is
judged by the steady state: the extra time of a call on 2N images over a call on N, against `model.predict` on the same
number of pre-loaded arrays (the ratio's target is at least 0.8). The end-to-end ratio on N images is printed too.

Without --run it saves a DenseNet121 (random weights: speed does not depend on them) at 224 px, at the precision a run would
pick here, as a run folder in a temporary directory. The images are the embedded SYNTHETIC set's (856 px). Both sides are
warmed up once. Prints one line per number and appends them with the CPU and commit to benchmarks/results/predict.csv.
"""
import argparse, json, tempfile, time
from pathlib import Path

def make_run(folder: Path) -> Path:
    "A DenseNet121 run folder with random weights, as `predict` expects one."
    import keras
    from livertumor.core import write_json_atomic
    from livertumor.predict import save_for_inference
    from livertumor.models import build_classifier, load_backbone
    from livertumor.train import choose_precision
    keras.mixed_precision.set_global_policy(choose_precision('auto'))
    bb, w = load_backbone('DenseNet121', 224, 'none')
    folder.mkdir(parents=True)
    save_for_inference(build_classifier(bb), folder, dict(backbone='DenseNet121', image_size=224, weights_used=w['used']))
    write_json_atomic(folder/'metrics.json', dict(weights_used='random', weights_origin='benchmark', recipe='none', data_source='synthetic',
                                                  synthetic_data=True))
    return folder

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--images', type=int, default=96); p.add_argument('--run', default=None); p.add_argument('--batch', type=int, default=16)
    a = p.parse_args()
    import numpy as np, pandas as pd
    from livertumor.core import git_commit, write_text_atomic
    from livertumor.data import load_dataset, resolve_data
    from livertumor.predict import load_for_inference
    from livertumor.models import get_backbone
    from livertumor.predict import file_inputs, predict_files
    from livertumor.train import choose_precision, cpu_info
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(a.run) if a.run else make_run(Path(tmp)/'run')
        files = load_dataset(resolve_data('synthetic')).path.tolist()[:2 * a.images]
        assert len(files) == 2 * a.images, f'the embedded set has {len(files)} images: ask for --images {len(files) // 2} at most'
        folders = {n: Path(tmp)/f'images{n}' for n in (a.images, 2 * a.images)}
        for n, folder in folders.items():
            folder.mkdir()
            for i, f in enumerate(files[:n]): (folder/f'{i:04d}.png').symlink_to(f)
        predict_files(run, [folders[a.images]/'0000.png'])               # warm-up: files in the page cache, libraries imported
        took = {}
        for n, folder in folders.items():
            t0 = time.perf_counter(); table, _ = predict_files(run, [folder], batch_size=a.batch); took[n] = time.perf_counter() - t0
            assert (table.error == '').all() and len(table) == n
        ours, steady = took[a.images], (took[2 * a.images] - took[a.images]) / a.images      # s per image beyond the fixed cost
        files = files[:a.images]
        t0 = time.perf_counter(); model, info = load_for_inference(run); load_s = time.perf_counter() - t0
        prep = get_backbone(info['backbone']).preprocess()
        x = np.concatenate([file_inputs(Path(f), 224, False, 224, {}, True, 0)[0] for f in files])     # decoded and resized beforehand
        model.predict(prep(x[:a.batch].astype('float32')), batch_size=a.batch, verbose=0)     # warm-up
        t0 = time.perf_counter(); model.predict(prep(x.astype('float32')), batch_size=a.batch, verbose=0); plain = time.perf_counter() - t0
    n = len(files)
    row = dict(workload='densenet121_predict', images=n, image_px=856, input_px=224, batch=a.batch, precision=choose_precision('auto'),
               predict_images_per_s=round(n / ours, 2), predict_steady_images_per_s=round(1 / steady, 2),
               preloaded_images_per_s=round(n / plain, 2), ratio_steady=round(plain / n / steady, 3), ratio_end_to_end=round(plain / ours, 3),
               fixed_s=round(ours - n * steady, 2), model_load_s=round(load_s, 2),
               **cpu_info(), commit=git_commit()['commit'][:10], dirty=git_commit()['dirty'], measured=time.strftime('%Y-%m-%d'))
    for k in ('predict_steady_images_per_s', 'preloaded_images_per_s', 'ratio_steady', 'predict_images_per_s', 'ratio_end_to_end', 'fixed_s', 'model_load_s'):
        print(f'{k}: {row[k]}')
    print(f"cpu: {row['cpu']} ({row['cores']} cores; {row['cpu_flags']}); precision {row['precision']}; target ratio_steady >= 0.8")
    out = Path(__file__).parent/'results'/'predict.csv'
    table = pd.concat([pd.read_csv(out), pd.DataFrame([row])], ignore_index=True) if out.is_file() else pd.DataFrame([row])
    write_text_atomic(out, table.to_csv(index=False)); print(f'appended to {out}')
    print(json.dumps(row))

if __name__ == '__main__': main()

"""Input-pipeline benchmark: images per second the tf.data pipeline delivers (augmentation on) against images per
second a DenseNet121 training step consumes, on this machine; and the pipeline's peak resident memory.

    python benchmarks/pipeline.py [--data synthetic] [--epochs 3] [--steps 6]

The pipeline is measured first, alone in the process, so the peak memory printed for it excludes the model: once decoding
every epoch, once with decoded images cached in memory (after a warm-up epoch that fills the cache).
Prints one line per number and a JSON line, and appends the numbers with the CPU and commit to benchmarks/results/pipeline.csv.
"""
import argparse, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from models import measure, rss_mb   # benchmarks/models.py: the step timing and memory reading both benchmarks share

def pipeline_rate(df, size, batch, epochs, cache='none', deterministic=False, seed=0):
    "Images per second over `epochs` epochs, after one warm-up epoch (which fills the cache, if any)."
    from keras.applications import densenet
    from livertumor.augment import make_augmenter
    from livertumor.data import make_tf_dataset
    ds = make_tf_dataset(df, size, densenet.preprocess_input, batch, training=True, augment=make_augmenter(1.0, seed=seed),
                         seed=seed, cache=cache, deterministic=deterministic)
    for _ in ds: pass                                                    # warm-up epoch
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, _ in ds: n += int(x.shape[0])
    return n / (time.perf_counter() - t0)

def train_rate(size, batch, steps, fine_tune_layers):
    "Images/s a DenseNet121 training step consumes, at the precision a run would pick here (see models.py)."
    return measure('DenseNet121', 'auto', False, steps, batch, fine_tune_layers)['train_img_s']

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='synthetic'); p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--steps', type=int, default=6); p.add_argument('--batch', type=int, default=16)
    a = p.parse_args()
    from livertumor.data import resolve_data, load_dataset
    size = 224
    df = load_dataset(resolve_data(a.data))
    base = rss_mb('VmRSS')
    decode = pipeline_rate(df, size, a.batch, a.epochs)
    cached = pipeline_rate(df, size, a.batch, a.epochs, cache='memory')
    determ = pipeline_rate(df, size, a.batch, a.epochs, cache='memory', deterministic=True)
    pipe_mb = rss_mb()
    print(f'pipeline, decoding every epoch: {decode:.1f} images/s ({len(df)} images of {a.data}, {size} px, augmentation on, {os.cpu_count()} cores)')
    print(f"pipeline, decoded images cached (cache='memory', the presets' default): {cached:.1f} images/s")
    print(f"pipeline, cached, deterministic mode (augmentation one batch at a time): {determ:.1f} images/s")
    print(f'pipeline peak resident memory: {pipe_mb:.0f} MB ({base:.0f} MB before TensorFlow was imported and the pipeline built)')
    head = train_rate(size, a.batch, a.steps, 0)
    fine = train_rate(size, a.batch, a.steps, 30)
    from livertumor.train import choose_precision
    print(f"DenseNet121 training step ({choose_precision('auto')}), frozen backbone (phase 1): {head:.1f} images/s")
    print(f'DenseNet121 training step, top 30 layers trainable (phase 2): {fine:.1f} images/s')
    step = max(head, fine)
    print(f'pipeline / fastest training step: {cached / step:.1f}x cached, {determ / step:.1f}x cached and deterministic, '
          f'{decode / step:.1f}x decoding every epoch '
          f'(target >= 5x); peak memory {pipe_mb:.0f} MB (target < 2048 MB)')
    print(line := json.dumps(dict(pipeline_decode_images_per_s=round(decode, 1), pipeline_cached_images_per_s=round(cached, 1), pipeline_deterministic_images_per_s=round(determ, 1),
                          train_head_images_per_s=round(head, 2), train_fine_images_per_s=round(fine, 2),
                          ratio_cached=round(cached / step, 1), ratio_deterministic=round(determ / step, 1), ratio_decode=round(decode / step, 1),
                          pipeline_peak_rss_mb=round(pipe_mb))))
    import pandas as pd
    from livertumor.core import git_commit, write_text_atomic
    from livertumor.train import cpu_info
    row = dict(json.loads(line), data=a.data, images=len(df), image_size=size, batch=a.batch, precision=choose_precision('auto'),
               **cpu_info(), commit=git_commit()['commit'][:10], dirty=git_commit()['dirty'], measured=time.strftime('%Y-%m-%d'))
    out = Path(__file__).parent/'results'/'pipeline.csv'
    table = pd.concat([pd.read_csv(out), pd.DataFrame([row])], ignore_index=True) if out.is_file() else pd.DataFrame([row])
    write_text_atomic(out, table.to_csv(index=False)); print(f'appended to {out}')

if __name__ == '__main__': main()

"""The peer: the plain PyTorch + torchvision fine-tuning script a researcher would write instead of livertumor.

It trains the same DenseNet121 schedule as `nbs/train.ipynb` with `preset=full` (224 px, batch 16, 10 epochs of the head
on the frozen backbone at 1e-3, 10 epochs with the same top layers unfrozen at 1e-5, BatchNorm in eval mode, dropout 0.2,
Adam), on the same patients (a `splits.csv`), from the same ImageNet weights (exported from the Keras backbone by
`benchmarks/vs_pytorch.py`), written as a competent user would: images decoded and resized once and kept as uint8
tensors, per-image augmentation (flips, rotation, zoom, brightness, contrast, H&E stain jitter), `torch.set_num_threads`
= cores, BatchNorm in eval mode, bf16 autocast only where the CPU has bf16, `torch.no_grad` for evaluation, the best
validation epoch's weights saved. It runs in its own environment (`pip install torch==2.14.1 torchvision==0.29.1`),
never a dependency of livertumor:

    python benchmarks/peer_torch.py study --splits splits.csv --weights densenet121.npz --unfreeze a,b --out peer.json
    python benchmarks/peer_torch.py cv --splits fold0.csv,fold1.csv,fold2.csv --weights densenet121.npz --unfreeze a,b --out cv.json
    python benchmarks/peer_torch.py steps --weights densenet121.npz --unfreeze a,b --out steps.json

`cv` is a K-fold study: the same schedule on each fold's splits.csv in turn, in one process as a user's loop over folds,
with each fold's seconds and test accuracy and the pooled out-of-fold test accuracy.

Without flags it is the naive peer (eager, contiguous tensors, augmentation in the training loop). `--tuned` follows
PyTorch's CPU performance guide: model and inputs in channels-last memory format; bf16 autocast only where the CPU has
bf16, as before; `torch.compile` of the model only where it works here and pays, and DataLoader workers for the
augmentation only where they are faster on these cores, both decided by a measured trial (eager against compiled
fine-phase training steps and prediction batches after warm-up, with the compile time; augmenting and training a few
batches with 0, 1, 2 workers). `steps --tuned` is that trial at --steps steps, reporting the faster of each; a study
compiles only if the seconds it saves over the schedule's steps exceed the measured compile time, and takes the trial
from `--trial STEPS_JSON` (a `steps --tuned` output: tuned once per machine) or runs a 3-step one itself, timed as
`seconds.trial`. The output's `variant` and `compile`/`workers` fields say what was applied and why.
"""
import argparse, csv, json, os, resource, time
from pathlib import Path
T0 = time.perf_counter()
import numpy as np, torch, torchvision
from torch import nn
from torchvision.transforms import v2
from PIL import Image

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

def has_bf16():
    try: flags = open('/proc/cpuinfo').read()
    except OSError: return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags

def peak_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def torch_name(keras_layer):
    "The torchvision DenseNet121 module of a Keras DenseNet121 layer name (both follow Huang et al.'s layout)."
    if keras_layer == 'conv1_conv': return 'features.conv0'
    if keras_layer == 'conv1_bn': return 'features.norm0'
    if keras_layer == 'bn': return 'features.norm5'
    if keras_layer.startswith('pool'):                       # pool2_bn, pool2_conv: transition1
        b, kind = keras_layer[4], keras_layer.split('_')[1]
        return f'features.transition{int(b) - 1}.' + ('norm' if kind == 'bn' else 'conv')
    stage, block, part, kind = keras_layer.split('_')        # conv2_block1_1_conv: denseblock1.denselayer1.conv1
    b, l = int(stage[4:]) - 1, int(block[5:])
    name = {('0', 'bn'): 'norm1', ('1', 'conv'): 'conv1', ('1', 'bn'): 'norm2', ('2', 'conv'): 'conv2'}[part, kind]
    return f'features.denseblock{b}.denselayer{l}.{name}'

def build(weights, unfreeze, n_classes=3):
    "torchvision's DenseNet121 with the exported weights, a dropout + linear head, only `unfreeze` (Keras names) trainable."
    model = torchvision.models.densenet121(weights=None)
    model.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1024, n_classes))
    if weights:
        state, arrays = model.state_dict(), np.load(weights)
        for key in arrays.files:
            layer, var = key.split('/')
            t = torch.from_numpy(arrays[key])
            mod = torch_name(layer)
            if var == 'kernel': state[f'{mod}.weight'] = t.permute(3, 2, 0, 1).contiguous()     # HWIO -> OIHW
            else: state[f'{mod}.' + dict(gamma='weight', beta='bias', moving_mean='running_mean',
                                         moving_variance='running_var')[var]] = t
        model.load_state_dict(state)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d): m.eps = 1.001e-5                               # Keras DenseNet's epsilon
    trainable = {torch_name(n) for n in unfreeze}
    return model, trainable

def set_phase(model, trainable, fine):
    "Head always trainable; the backbone frozen, or only its `trainable` convolutions when `fine` (BatchNorm never)."
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith('classifier.') or (fine and name.rsplit('.', 1)[0] in trainable)

def train_mode(model):
    model.train(); model.features.eval()       # BatchNorm of the pre-trained backbone in inference mode, as in Keras

class HED:
    "Random per-image scale and shift of the H&E optical densities (Tellez et al., 2018), as livertumor's HEDJitter."
    rgb_from_hed = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
    def __init__(self, sigma=0.05):
        self.M, self.Minv, self.sigma = self.rgb_from_hed, torch.linalg.inv(self.rgb_from_hed), sigma
    def __call__(self, x):          # x: 3xHxW float in [0, 255]
        od = -torch.log((x + 1) / 256).permute(1, 2, 0)
        a = torch.empty(3).uniform_(1 - self.sigma, 1 + self.sigma); b = torch.empty(3).uniform_(-self.sigma, self.sigma)
        hed = (od @ self.Minv) * a + b
        return torch.clamp(256 * torch.exp(-(hed @ self.M)) - 1, 0, 255).permute(2, 0, 1)

AUGMENT = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
                      v2.RandomAffine(degrees=180, scale=(0.85, 1.15)),                  # rotation +-180 deg, zoom +-15 %
                      v2.ColorJitter(brightness=0.1, contrast=0.15), v2.ToDtype(torch.float32)])
HED_JITTER = HED()

def normalise(x): return (x.float() / 255.0 - MEAN) / STD

def cl(x, tuned): return x.contiguous(memory_format=torch.channels_last) if tuned else x

def augment_batch(x):
    return normalise(torch.stack([HED_JITTER(AUGMENT(img)) for img in x]).round())

class Augmented(torch.utils.data.Dataset):
    "The training images, each augmented as `augment_batch` does, for a DataLoader's workers."
    def __init__(self, x, y): self.x, self.y = x, y
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return HED_JITTER(AUGMENT(self.x[i])).round(), self.y[i]

def batches(x, y, batch, gen, loader=None):
    "One epoch's shuffled, augmented, normalised training batches: augmented in the loop, or by `loader`'s workers."
    if loader is not None: yield from ((normalise(xb), yb) for xb, yb in loader); return
    order = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch): idx = order[i:i + batch]; yield augment_batch(x[idx]), y[idx]

def make_loader(x, y, batch, gen, workers):
    return torch.utils.data.DataLoader(Augmented(x, y), batch_size=batch, shuffle=True, generator=gen, num_workers=workers,
                                       persistent_workers=True) if workers else None

def load_split(rows, size, classes):
    "Decoded, resized (antialiased) uint8 NCHW tensor and labels."
    imgs = [torch.from_numpy(np.asarray(Image.open(r['path']).convert('RGB'))).permute(2, 0, 1) for r in rows]
    x = torch.stack([v2.functional.resize(i, [size, size], antialias=True) for i in imgs])
    return x, torch.tensor([classes.index(r['label']) for r in rows])

def evaluate(model, x, y, autocast, batch=16, fwd=None, tuned=False):
    model.eval(); correct = 0; fwd = fwd or model
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16, enabled=autocast):
        for i in range(0, len(x), batch):
            correct += (fwd(cl(normalise(x[i:i + batch]), tuned)).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)

def run_epoch(model, opt, epoch, autocast, fwd=None, tuned=False):
    train_mode(model); loss_fn = nn.CrossEntropyLoss(); fwd = fwd or model
    for xb, yb in epoch:
        with torch.autocast('cpu', torch.bfloat16, enabled=autocast):
            loss = loss_fn(fwd(cl(xb, tuned)).float(), yb)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

def per_step(fn, n, warm=2):
    for _ in range(warm): fn()
    t0 = time.perf_counter()
    for _ in range(n): fn()
    return (time.perf_counter() - t0) / n

def first_line(e): return f'{type(e).__name__}: ' + (str(e).strip().splitlines() or [''])[0][:300]

def seconds(fn, *args):
    t0 = time.perf_counter(); fn(*args); return time.perf_counter() - t0

def trial(a, autocast, n):
    """The tuned choices measured on random images, each pair interleaved so that drift of a shared machine falls on both:
    mean seconds of n fine-phase training steps and of n prediction batches, eager and torch.compile'd, after warm-up
    (compile_s: the first compiled call), or the compile error; seconds per batch of augmenting + training an epoch of 4
    batches with 0, 1, 2 DataLoader workers (a second round of epochs, the workers started)."""
    model, trainable = build(a.weights, a.unfreeze.split(',')); set_phase(model, trainable, True)
    model = model.to(memory_format=torch.channels_last); compiled = torch.compile(model)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    g = torch.Generator().manual_seed(0)
    x = cl(torch.rand(a.batch, 3, a.size, a.size, generator=g) * 4 - 2, True); y = torch.zeros(a.batch, dtype=torch.long)
    def step(f, xb=x, yb=y):
        train_mode(model)
        with torch.autocast('cpu', torch.bfloat16, enabled=autocast): loss = nn.functional.cross_entropy(f(cl(xb, True)).float(), yb)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    def predict(f):
        model.eval()
        with torch.no_grad(), torch.autocast('cpu', torch.bfloat16, enabled=autocast): f(x)
    out = {}
    for name, fn in (('train_step', step), ('predict', predict)):
        r = out[name] = {}; fn(model); fn(model); sides = {'eager_s': model}
        try: r['compile_s'] = seconds(fn, compiled); fn(compiled); sides['compiled_s'] = compiled
        except Exception as e: r['error'] = first_line(e); torch._dynamo.reset()
        t = [[seconds(fn, f) for f in sides.values()] for _ in range(n)]       # eager, compiled, eager, compiled, ...
        r.update({k: sum(row[i] for row in t) / n for i, k in enumerate(sides)})
    imgs = torch.randint(0, 256, (4 * a.batch, 3, a.size, a.size), dtype=torch.uint8, generator=g); labels = torch.zeros(len(imgs), dtype=torch.long)
    loaders = {str(w): make_loader(imgs, labels, a.batch, g, w) for w in range(min(2, os.cpu_count()) + 1)}
    epoch = lambda loader: [step(model, xb, yb) for xb, yb in batches(imgs, labels, a.batch, g, loader)]
    out['workers_s'] = [{w: seconds(epoch, l) / 4 for w, l in loaders.items()} for _ in range(2)][-1]
    return out

def choose_compile(t, n=None):
    "(whether to compile, why) from one kind of trial `t`, for `n` steps (None: steady state, the compile time aside)."
    if 'error' in t: return False, f"failed: {t['error']}"
    e, c, k = t['eager_s'], t['compiled_s'], t['compile_s']
    if c >= e: return False, f'slower ({c:.3f} vs {e:.3f} s/step eager)'
    if n and k + n * c >= n * e:
        return False, f'not worth it ({c:.3f} vs {e:.3f} s/step eager saves {n * (e - c):.0f} s over {n} steps, compiling took {k:.0f} s)'
    return True, f'used ({c:.3f} vs {e:.3f} s/step eager, compiling took {k:.0f} s)'

def choose_workers(w):
    "(DataLoader workers for the augmentation, why) from the trial's seconds per batch by workers."
    best = min(w, key=w.get)
    return int(best), f"{best} ({', '.join(f'{k}: {v:.3f}' for k, v in w.items())} s/batch by workers)"

def get_trial(a, autocast):
    "The tuned trial and the seconds it took here: read from --trial (a `steps --tuned` output), else a 3-step one run now."
    if a.trial: return json.load(open(a.trial))['trial'], 0.0, a.trial
    t0 = time.perf_counter(); t = trial(a, autocast, 3); torch._dynamo.reset()
    return t, time.perf_counter() - t0, 'this run'

def variant(tuned, autocast, compile=None, workers=None):
    if not tuned: return 'naive: eager, contiguous NCHW tensors, augmentation in the training loop, ' + ('bf16 autocast' if autocast else 'float32')
    return (f"tuned: channels_last, {'bf16 autocast' if autocast else 'float32'}, torch.compile "
            + ', '.join(f'{k}: {v}' for k, v in compile.items()) + f', augmentation workers: {workers}')

def study(a, autocast, splits, tune=None, folds=1):
    "One run of the schedule on `splits`; `tune`: the tuned trial (None: naive); `folds`: runs of it this process makes (compile pays over all)."
    torch.manual_seed(a.seed); t, t0 = {}, time.perf_counter()
    rows = list(csv.DictReader(open(splits)))
    record = Path(splits).parent/'metrics.json'           # our runs store paths relative to the dataset folder their metrics.json names
    root = Path(json.load(open(record)).get('data_path') or '.') if record.is_file() else Path('.')
    rows = [dict(r, path=str(root/r['path'])) for r in rows]
    classes = sorted({r['label'] for r in rows})
    data = {s: load_split([r for r in rows if r['split'] == s], a.size, classes) for s in ('train', 'val', 'test')}
    t['data'] = time.perf_counter() - t0; t0 = time.perf_counter()
    model, trainable = build(a.weights, a.unfreeze.split(','), len(classes))
    gen, best, history, tuned, extra = torch.Generator().manual_seed(a.seed), -1.0, [], tune is not None, {}
    fwd_train = fwd_eval = model; loader = None
    if tuned:
        n = {s: -(-len(d[0]) // (a.batch if s == 'train' else 16)) for s, d in data.items()}     # batches of each split
        epochs = a.epochs_head + a.epochs_fine
        (ct, wt), (ce, we) = choose_compile(tune['train_step'], n['train'] * epochs * folds), \
                             choose_compile(tune['predict'], (n['val'] * epochs + sum(n.values())) * folds)
        model = model.to(memory_format=torch.channels_last); compiled = torch.compile(model)
        fwd_train, fwd_eval = compiled if ct else model, compiled if ce else model
        workers, why = choose_workers(tune['workers_s']); loader = make_loader(*data['train'], a.batch, gen, workers)
        extra = dict(channels_last=True, compile=dict(train=wt, eval=we), workers=why)
    t['model'] = time.perf_counter() - t0
    for phase, epochs, lr, fine in (('head', a.epochs_head, a.lr_head, False), ('fine', a.epochs_fine, a.lr_fine, True)):
        t0 = time.perf_counter(); set_phase(model, trainable, fine)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        for _ in range(epochs):
            e0 = time.perf_counter()
            run_epoch(model, opt, batches(*data['train'], a.batch, gen, loader), autocast, fwd_train, tuned)
            val = evaluate(model, *data['val'], autocast, fwd=fwd_eval, tuned=tuned)
            if val > best: best = val; torch.save(model.state_dict(), a.out + '.best.pt')   # the best epoch, as ModelCheckpoint
            history.append(dict(phase=phase, val_accuracy=val, seconds=round(time.perf_counter() - e0, 2)))
        t[phase] = time.perf_counter() - t0
    t0 = time.perf_counter(); del loader
    acc = {s: evaluate(model, *d, autocast, fwd=fwd_eval, tuned=tuned) for s, d in data.items()}
    t['evaluate'] = time.perf_counter() - t0
    os.remove(a.out + '.best.pt') if os.path.exists(a.out + '.best.pt') else None
    n = len(data['train'][0])
    return dict(seconds={k: round(v, 2) for k, v in t.items()}, train_accuracy=acc['train'], val_accuracy=acc['val'],
                test_accuracy=acc['test'], n={s: len(d[0]) for s, d in data.items()},
                train_img_s=round(n * (a.epochs_head + a.epochs_fine) / (t['head'] + t['fine']), 2), history=history, **extra)

def cv(a, autocast, tune=None):
    "The K-fold study: the schedule on each of --splits in turn, in this process; each fold's seconds and test accuracy, and the pooled out-of-fold test accuracy."
    paths = a.splits.split(','); t0 = time.perf_counter()
    runs = [study(a, autocast, s, tune, len(paths)) for s in paths]
    n = [r['n']['test'] for r in runs]
    return dict(seconds=dict(folds=round(time.perf_counter() - t0, 2)), fold_seconds=[round(sum(r['seconds'].values()), 2) for r in runs],
                fold_test_accuracy=[r['test_accuracy'] for r in runs], n_test=sum(n),
                test_accuracy=sum(r['test_accuracy'] * k for r, k in zip(runs, n)) / sum(n),      # each fold's correct answers, pooled
                train_accuracy=float(np.mean([r['train_accuracy'] for r in runs])),
                train_img_s=round(float(np.mean([r['train_img_s'] for r in runs])), 2),
                folds=[{k: v for k, v in r.items() if k not in ('compile', 'workers', 'channels_last')} for r in runs],
                **{k: v for k, v in runs[0].items() if k in ('compile', 'workers', 'channels_last')})

def steps(a, autocast):
    "Steady-state images/s of fine-phase training steps and of prediction on random images, after two warm-up calls; tuned: the trial, each the faster of eager and compiled."
    if a.tuned:
        t = trial(a, autocast, a.steps); out = dict(trial=t, compile={}, channels_last=True, workers=choose_workers(t['workers_s'])[1])
        for name in ('train_step', 'predict'):
            use, out['compile'][name] = choose_compile(t[name])
            out[f'{name}_img_s'] = round(a.batch / t[name]['compiled_s' if use else 'eager_s'], 2)
        return out
    model, trainable = build(a.weights, a.unfreeze.split(',')); set_phase(model, trainable, True)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(a.batch, 3, a.size, a.size, generator=g) * 4 - 2; y = torch.zeros(a.batch, dtype=torch.long)
    def step():
        train_mode(model)
        with torch.autocast('cpu', torch.bfloat16, enabled=autocast): loss = nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    def predict():
        model.eval()
        with torch.no_grad(), torch.autocast('cpu', torch.bfloat16, enabled=autocast): model(x)
    out = {}
    for name, fn in (('train_step', step), ('predict', predict)):
        out[f'{name}_img_s'] = round(a.batch / per_step(fn, a.steps), 2)
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('mode', choices=('study', 'cv', 'steps', 'features'))
    p.add_argument('--splits', help='a splits.csv; cv: one per fold, comma-separated')
    p.add_argument('--weights', default=''); p.add_argument('--unfreeze', default='')
    p.add_argument('--out', required=True); p.add_argument('--size', type=int, default=224); p.add_argument('--batch', type=int, default=16)
    p.add_argument('--epochs-head', type=int, default=10); p.add_argument('--epochs-fine', type=int, default=10)
    p.add_argument('--lr-head', type=float, default=1e-3); p.add_argument('--lr-fine', type=float, default=1e-5)
    p.add_argument('--seed', type=int, default=42); p.add_argument('--steps', type=int, default=10)
    p.add_argument('--tuned', action='store_true', help="PyTorch's CPU performance guide: channels-last, torch.compile and loader workers where measured faster")
    p.add_argument('--trial', default='', help='study, cv --tuned: the trial of a `steps --tuned` output, instead of running one')
    p.add_argument('--images', default='', help='features mode: an .npy of NHWC float images in [0, 255]')
    a = p.parse_args()
    torch.manual_seed(a.seed); torch.set_num_threads(os.cpu_count())
    autocast = has_bf16()
    if a.mode == 'features':      # the converted backbone's pooled features, to check the conversion against Keras
        model, _ = build(a.weights, []); model.eval()
        x = torch.from_numpy(np.load(a.images)).permute(0, 3, 1, 2)
        with torch.no_grad():
            f = nn.functional.adaptive_avg_pool2d(nn.functional.relu(model.features(normalise(x))), 1).flatten(1)
        np.save(a.out, f.numpy()); return
    startup = time.perf_counter() - T0
    if a.mode == 'steps': out = steps(a, autocast)
    else:
        tune, trial_s, source = get_trial(a, autocast) if a.tuned else (None, 0.0, None)
        out = study(a, autocast, a.splits, tune) if a.mode == 'study' else cv(a, autocast, tune)
        out['seconds'] = dict(startup=round(startup, 2), trial=round(trial_s, 2), **out['seconds'])
        if a.tuned: out['trial_from'] = source
    out.update(framework=f"PyTorch {torch.__version__} + torchvision {torchvision.__version__}, {'tuned' if a.tuned else 'naive'}",
               variant=variant(a.tuned, autocast, out.get('compile'), out.get('workers')),
               precision='bf16 autocast' if autocast else 'float32', threads=torch.get_num_threads(), peak_rss_mb=round(peak_mb()))
    json.dump(out, open(a.out, 'w'), indent=1)

if __name__ == '__main__': main()

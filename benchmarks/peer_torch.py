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
    python benchmarks/peer_torch.py steps --weights densenet121.npz --unfreeze a,b --out steps.json
"""
import argparse, csv, json, os, resource, time
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

def augment_batch(x):
    return normalise(torch.stack([HED_JITTER(AUGMENT(img)) for img in x]).round())

def load_split(rows, size, classes):
    "Decoded, resized (antialiased) uint8 NCHW tensor and labels."
    imgs = [torch.from_numpy(np.asarray(Image.open(r['path']).convert('RGB'))).permute(2, 0, 1) for r in rows]
    x = torch.stack([v2.functional.resize(i, [size, size], antialias=True) for i in imgs])
    return x, torch.tensor([classes.index(r['label']) for r in rows])

def evaluate(model, x, y, autocast, batch=16):
    model.eval(); correct = 0
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16, enabled=autocast):
        for i in range(0, len(x), batch):
            correct += (model(normalise(x[i:i + batch])).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)

def run_epoch(model, opt, x, y, batch, autocast, gen):
    train_mode(model); loss_fn = nn.CrossEntropyLoss(); order = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch):
        idx = order[i:i + batch]
        xb = augment_batch(x[idx])
        with torch.autocast('cpu', torch.bfloat16, enabled=autocast):
            loss = loss_fn(model(xb).float(), y[idx])
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

def study(a, autocast):
    t = {'startup': time.perf_counter() - T0}; t0 = time.perf_counter()
    rows = list(csv.DictReader(open(a.splits)))
    classes = sorted({r['label'] for r in rows})
    data = {s: load_split([r for r in rows if r['split'] == s], a.size, classes) for s in ('train', 'val', 'test')}
    t['data'] = time.perf_counter() - t0; t0 = time.perf_counter()
    model, trainable = build(a.weights, a.unfreeze.split(','), len(classes))
    t['model'] = time.perf_counter() - t0
    gen, best, history = torch.Generator().manual_seed(a.seed), -1.0, []
    for phase, epochs, lr, fine in (('head', a.epochs_head, a.lr_head, False), ('fine', a.epochs_fine, a.lr_fine, True)):
        t0 = time.perf_counter(); set_phase(model, trainable, fine)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        for _ in range(epochs):
            e0 = time.perf_counter()
            run_epoch(model, opt, *data['train'], a.batch, autocast, gen)
            val = evaluate(model, *data['val'], autocast)
            if val > best: best = val; torch.save(model.state_dict(), a.out + '.best.pt')   # the best epoch, as ModelCheckpoint
            history.append(dict(phase=phase, val_accuracy=val, seconds=round(time.perf_counter() - e0, 2)))
        t[phase] = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = {s: evaluate(model, *d, autocast) for s, d in data.items()}
    t['evaluate'] = time.perf_counter() - t0
    os.remove(a.out + '.best.pt') if os.path.exists(a.out + '.best.pt') else None
    n = len(data['train'][0])
    return dict(seconds={k: round(v, 2) for k, v in t.items()}, train_accuracy=acc['train'], val_accuracy=acc['val'],
                test_accuracy=acc['test'], n={s: len(d[0]) for s, d in data.items()},
                train_img_s=round(n * (a.epochs_head + a.epochs_fine) / (t['head'] + t['fine']), 2), history=history)

def steps(a, autocast):
    "Steady-state images/s of fine-phase training steps and of prediction on random images, after two warm-up calls."
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
        fn(); fn(); t0 = time.perf_counter()
        for _ in range(a.steps): fn()
        out[f'{name}_img_s'] = round(a.steps * a.batch / (time.perf_counter() - t0), 2)
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('mode', choices=('study', 'steps', 'features'))
    p.add_argument('--splits'); p.add_argument('--weights', default=''); p.add_argument('--unfreeze', default='')
    p.add_argument('--out', required=True); p.add_argument('--size', type=int, default=224); p.add_argument('--batch', type=int, default=16)
    p.add_argument('--epochs-head', type=int, default=10); p.add_argument('--epochs-fine', type=int, default=10)
    p.add_argument('--lr-head', type=float, default=1e-3); p.add_argument('--lr-fine', type=float, default=1e-5)
    p.add_argument('--seed', type=int, default=42); p.add_argument('--steps', type=int, default=10)
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
    out = (study if a.mode == 'study' else steps)(a, autocast)
    out.update(framework=f'PyTorch {torch.__version__} + torchvision {torchvision.__version__}, eager',
               precision='bf16 autocast' if autocast else 'float32', threads=torch.get_num_threads(), peak_rss_mb=round(peak_mb()))
    json.dump(out, open(a.out, 'w'), indent=1)

if __name__ == '__main__': main()

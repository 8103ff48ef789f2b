"One image reader: the same file gives the same model input on every path (training, decoded cache, prediction, classical baselines)."
import ast
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from test_structure import ROOT, _sources

SIDE = 64

def test_same_file_same_pixels_on_every_path(tmp_path):
    from livertumor.data import decode_images, make_tf_dataset
    from livertumor.predict import file_inputs
    from livertumor.classical import read_images
    from livertumor.preprocess import read_rgb
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)
    files = {'a.png': Image.fromarray(rgb), 'b.jpg': Image.fromarray(rgb), 'c.tif': Image.fromarray(rgb),
             'd.png': Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (120, 100, 1), dtype=np.uint8)])),   # RGBA
             'e.png': Image.fromarray(rgb[..., 0])}                                                            # grey
    for name, im in files.items(): im.save(tmp_path/name)
    paths = [str(tmp_path/n) for n in files]
    df = pd.DataFrame(dict(path=paths, label='normal_liver'))
    training = np.concatenate([x.numpy() for x, _ in make_tf_dataset(df, SIDE, batch_size=len(paths))]).astype(np.uint8)
    cached = np.stack([decode_images(paths, SIDE)[p] for p in paths])
    predicted = np.stack([file_inputs(Path(p), SIDE, False, SIDE, {}, True, 0)[0][0] for p in paths])
    classical = read_images(paths, SIDE)
    one = np.stack([read_rgb(p, SIDE) for p in paths])
    for name, got in (('make_tf_dataset', training), ('decode_images', cached), ('predict', predicted), ('classical', classical)):
        for p, a, b in zip(files, got, one): np.testing.assert_array_equal(a, b, err_msg=f'{name} reads {p} differently')
    assert not np.array_equal(one[0], one[1])              # the JPEG's own decoding is what every path shares, not a coincidence

DECODERS = {'decode_image', 'decode_png', 'decode_jpeg', 'decode_bmp', 'decode_gif'}

def test_images_are_decoded_and_resized_in_one_place():
    "TensorFlow's decoders and its resize appear only in `preprocess` (the one reader); explain's resize scales a Grad-CAM map, not an image."
    found = []
    for where, own, tree in _sources():
        if own in ('preprocess',) or where == 'livertumor/preprocess.py': continue
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and (n.attr in DECODERS or (n.attr == 'resize' and isinstance(n.value, ast.Attribute) and n.value.attr == 'image')):
                if own == 'explain' or where == 'livertumor/explain.py': continue
                found.append(f'{where}:{n.lineno}: {n.attr}')
            if isinstance(n, ast.Attribute) and n.attr == 'LANCZOS' and (own in ('classical', 'predict', 'data', 'mil', 'explain')
                                                                       or where.split('/')[-1][:-3] in ('classical', 'predict', 'data', 'mil', 'explain')):
                found.append(f'{where}:{n.lineno}: LANCZOS')
    assert not found, 'an image decoded or resized outside preprocess.read_rgb / resize_rgb:\n' + '\n'.join(found)

"Real-data preparation end to end: GDC (loopback) → slides → regions → tiles, and DICOM → dataset, through the CLI."
import shutil
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from conftest import gdc_server, run
from livertumor.core import CLASSES, registry_file
from livertumor.data import load_dataset, split_by_case

@pytest.fixture(scope='module')
def slides(tmp_path_factory):
    "One real slide per case, fetched through `livertumor gdc` from the loopback server."
    d = tmp_path_factory.mktemp('gdc')
    with gdc_server() as server:
        assert run('livertumor', 'gdc', 'query', '--out', d/'slides.csv', '--max-cases', '2', '--api-url', server.url).returncode == 0
        r = run('livertumor', 'gdc', 'download', d/'slides.csv', '--out', d/'slides', '--api-url', server.url)
        assert r.returncode == 0, r.stderr
    return d

def test_slides_to_regions_to_tiles(slides, tmp_path):
    r = run('livertumor', 'regions', slides/'slides', '--manifest', slides/'slides.csv', '--out', tmp_path/'regions',
            '--size', '856', '--per-slide', '2')
    assert r.returncode == 0, r.stderr
    regions = pd.read_csv(tmp_path/'regions'/'manifest.csv')
    assert len(regions) == 12 and set(regions.label) == set(CLASSES)
    assert regions.case_id.nunique() == pd.read_csv(slides/'slides.csv').case_id.nunique()   # matched normals: a patient in two classes
    assert {'slide', 'x', 'y', 'um_per_px'} <= set(regions.columns)
    assert all(Image.open(tmp_path/'regions'/p).size == (856, 856) for p in regions.path)
    r = run('livertumor', 'tiles', tmp_path/'regions', '--out', tmp_path/'tiles', '--tile-size', '256',
            '--max-background', '0.125', '--stain', 'macenko', '--target', registry_file('target_image.png'))
    assert r.returncode == 0, r.stderr
    tiles = pd.read_csv(tmp_path/'tiles'/'manifest.csv')
    assert 0 < len(tiles) <= 12 * 9 and (tiles.background <= 0.125).all()
    assert set(tiles.image_id) <= {p[:-4] for p in regions.path}   # the source image's path in its dataset
    assert {'sharpness', 'pen', 'blurred', 'pen_mark'} <= set(tiles.columns)
    r = run('livertumor', 'tiles', tmp_path/'regions', '--out', tmp_path/'clean', '--drop-flagged',
            '--stain', 'macenko', '--target', registry_file('target_image.png'))
    assert r.returncode == 0, r.stderr
    clean = pd.read_csv(tmp_path/'clean'/'manifest.csv')
    assert not clean.blurred.any() and not clean.pen_mark.any()
    assert len(clean) == len(tiles) - (tiles.blurred | tiles.pen_mark).sum()
    df = load_dataset(tmp_path/'tiles')
    assert df.attrs['grouping'] == 'case'
    split = split_by_case(df, seed=0)
    assert split.groupby('case_id').split.nunique().max() == 1           # every tile of a patient in one split

def test_bad_slides_are_skipped_and_named(slides, tmp_path):
    d = tmp_path/'slides'; shutil.copytree(slides/'slides', d)
    m = pd.read_csv(slides/'slides.csv')
    first = d/m.file_name[0]; first.write_bytes(first.read_bytes()[:200_000])          # truncated download
    second = d/m.file_name[1]; second.write_text('<html>not a slide</html>')            # an error page saved as .svs
    r = run('livertumor', 'regions', d, '--manifest', slides/'slides.csv', '--out', tmp_path/'regions', '--per-slide', '1')
    assert r.returncode == 2 and 'no usable region for class(es) cholangiocarcinoma' in r.stderr, r.stderr
    assert m.file_name[1] in r.stdout and 'not a whole-slide image' in r.stdout
    assert not (tmp_path/'regions').exists()
    (d/m.file_name[1]).write_bytes((slides/'slides'/m.file_name[1]).read_bytes())     # the second slide is good again
    m.to_csv(tmp_path/'some.csv', index=False)
    r = run('livertumor', 'regions', d, '--manifest', tmp_path/'some.csv', '--out', tmp_path/'regions', '--per-slide', '1')
    assert r.returncode == 0, r.stderr
    skipped = pd.read_csv(tmp_path/'regions'/'skipped.csv')
    assert skipped.file_name.tolist() == [m.file_name[0]], skipped
    r = run('livertumor', 'regions', d, '--manifest', tmp_path/'some.csv', '--out', tmp_path/'r2', '--um-per-px', '0.25')
    assert r.returncode == 2 and 'which it does not have' in r.stdout + r.stderr
    r = run('livertumor', 'regions', d, '--manifest', tmp_path/'some.csv', '--out', tmp_path/'r3', '--min-tissue', '1.0')
    assert r.returncode == 2 and 'with at least 100% tissue' in r.stdout

def test_tiles_empty_class_and_synthetic_source(tmp_path):
    # difficulty 0.3: every normal-liver image has some background in each tile, so --max-background 0 leaves that class empty
    assert run('livertumor', 'synth', '--out', tmp_path/'syn', '--per-class', '2', '--size', '512', '--images-per-case', '1',
               '--difficulty', '0.3').returncode == 0
    r = run('livertumor', 'tiles', tmp_path/'syn', '--out', tmp_path/'t', '--tile-size', '256')
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path/'t'/'manifest.csv')
    assert set(t.source) == {'synthetic'} and len(t) <= 24
    r = run('livertumor', 'tiles', tmp_path/'syn', '--out', tmp_path/'t0', '--max-background', '0')
    assert r.returncode == 2 and 'raise --max-background' in r.stderr and not (tmp_path/'t0').exists(), r.stderr
    r = run('livertumor', 'tiles', tmp_path/'syn', '--out', tmp_path/'t', '--tile-size', '128')
    assert r.returncode == 2 and 'pass --overwrite' in r.stderr
    assert pd.read_csv(tmp_path/'t'/'manifest.csv').equals(t)                        # nothing already written is lost
    r = run('livertumor', 'tiles', tmp_path/'syn', '--out', tmp_path/'t2', '--stain', 'macenko')
    assert r.returncode == 2 and "target=None" in r.stderr

def test_dicom_to_dataset(tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file
    src = tmp_path/'dcm'
    for c in CLASSES: (src/c).mkdir(parents=True)
    shutil.copy(get_testdata_file('CT_small.dcm'), src/'hepatocellular_carcinoma'/'ct.dcm')
    shutil.copy(get_testdata_file('MR_small.dcm'), src/'cholangiocarcinoma'/'mr.dcm')
    ds = pydicom.dcmread(get_testdata_file('CT_small.dcm')); del ds.RescaleSlope; del ds.RescaleIntercept
    ds.save_as(src/'normal_liver'/'norescale.dcm')
    r = run('livertumor', 'dicom', src, '--out', tmp_path/'ds', '--window-level', '40', '--window-width', '400', '--size', '128')
    assert r.returncode == 2 and 'norescale.dcm (CT) has no RescaleSlope/RescaleIntercept' in r.stdout, r.stdout + r.stderr
    assert 'no usable DICOM slice for class(es) normal_liver' in r.stderr and not (tmp_path/'ds').exists()
    shutil.copy(get_testdata_file('CT_small.dcm'), src/'normal_liver'/'ct2.dcm')
    r = run('livertumor', 'dicom', src, '--out', tmp_path/'ds', '--window-level', '40', '--window-width', '400', '--size', '128')
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(tmp_path/'ds'/'manifest.csv')
    assert len(m) == 3 and pd.read_csv(tmp_path/'ds'/'skipped.csv').file.tolist() == ['normal_liver/norescale.dcm']
    img = np.asarray(Image.open(tmp_path/'ds'/m.path[m.unit == 'HU'].iloc[0]))
    assert img.shape == (128, 128) and img.min() == 0 and img.max() == 255
    assert load_dataset(tmp_path/'ds').attrs['grouping'] == 'case'

def test_external_test_set_is_only_tested_on(slides, tmp_path):
    "A run on the synthetic default with tiles of the real slides named as the external test set."
    assert run('livertumor', 'regions', slides/'slides', '--manifest', slides/'slides.csv', '--out', tmp_path/'regions',
               '--per-slide', '1').returncode == 0
    assert run('livertumor', 'tiles', tmp_path/'regions', '--out', tmp_path/'tiles').returncode == 0
    out_dir = tmp_path/'run'
    r = run('papermill', 'nbs/train.ipynb', tmp_path/'out.ipynb', '-p', 'model', 'DenseNet121', '-p', 'preset', 'smoke',
            '-p', 'max_images_per_class', '10', '-p', 'external', tmp_path/'tiles', '-p', 'out_dir', out_dir)
    assert r.returncode == 0, r.stderr[-3000:]
    m = __import__('json').loads((out_dir/'metrics.json').read_text())
    n_tiles = len(pd.read_csv(tmp_path/'tiles'/'manifest.csv'))
    assert m['n_external'] == n_tiles and 0 <= m['external_accuracy'] <= 1 and m['external_path'] == str(tmp_path/'tiles')
    assert 'external' not in set(pd.read_csv(out_dir/'splits.csv').split)              # never in the training split file

def test_gdc_build_in_one_command_and_resume(tmp_path):
    with gdc_server() as server:
        server.mode = 'drop_once'                                                      # the first download is cut off
        r = run('livertumor', 'gdc', 'build', '--out', tmp_path/'tcga', '--images-per-class', '1', '--max-cases', '1', '--api-url', server.url)
        assert r.returncode == 0, r.stderr
        m = pd.read_csv(tmp_path/'tcga'/'regions'/'manifest.csv')
        assert len(m) == 3 and set(m.label) == set(CLASSES) and (m.source == 'slide').all()
        before = (tmp_path/'tcga'/'slides.csv').read_text()
        r = run('livertumor', 'gdc', 'build', '--out', tmp_path/'tcga', '--images-per-class', '1', '--max-cases', '1', '--api-url', server.url)
        assert r.returncode == 2 and 'pass --overwrite' in r.stderr                   # the dataset is kept
        assert 'reusing the slide manifest' in r.stdout and (tmp_path/'tcga'/'slides.csv').read_text() == before
        r = run('livertumor', 'gdc', 'build', '--out', tmp_path/'tcga', '--images-per-class', '1', '--max-cases', '1', '--api-url', server.url,
                '--slides', 'diagnostic', '--slides-for', 'normal_liver=tissue')          # other options: never the old selection
        assert r.returncode == 2 and "was queried with other options: slides='tissue' (now 'diagnostic')" in r.stderr, r.stderr
        assert (tmp_path/'tcga'/'slides.csv').read_text() == before

def _distinct_files_match(root, m, expected):
    "Every row's file exists, no two rows share a file, and row i holds exactly `expected[i]`."
    assert m.path.nunique() == len(m), m.path[m.path.duplicated()].tolist()
    for p, want in zip(m.path, expected):
        assert (root/p).is_file(), p
        assert np.array_equal(np.asarray(Image.open(root/p)), want), f'{p} does not hold its source'

def test_dicom_series_with_the_same_file_name_all_kept(tmp_path):
    "One patient, two series folders, each with an IM0001.dcm: both slices survive, each in its own file."
    import pydicom
    from pydicom.data import get_testdata_file
    from livertumor.dicom import dicom_dataset, dicom_to_image
    src = tmp_path/'dcm'
    for s in ('series1', 'series2'): (src/'hepatocellular_carcinoma'/'p1'/s).mkdir(parents=True)
    shutil.copy(get_testdata_file('CT_small.dcm'), src/'hepatocellular_carcinoma'/'p1'/'series1'/'IM0001.dcm')
    ds = pydicom.dcmread(get_testdata_file('CT_small.dcm'))                       # same patient, another series
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[::-1]).tobytes(); ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(src/'hepatocellular_carcinoma'/'p1'/'series2'/'IM0001.dcm')
    (src/'cholangiocarcinoma'/'p2').mkdir(parents=True)
    shutil.copy(get_testdata_file('MR_small.dcm'), src/'cholangiocarcinoma'/'p2'/'IM0001.dcm')
    m = dicom_dataset(src, tmp_path/'ds', size=128)
    assert len(m) == 3 and m.case_id.tolist().count('1CT1') == 2
    _distinct_files_match(tmp_path/'ds', m, [dicom_to_image(src/f, size=128)[0] for f in m.dicom])
    assert len(load_dataset(tmp_path/'ds')) == 3

def test_tiles_of_images_with_the_same_stem_all_kept(tmp_path):
    "a.png and a.jpg in one case, and a.png in another case's subfolder: every tile is its own file."
    from livertumor.data import tile_dataset
    from livertumor.preprocess import read_rgb
    rng, d = np.random.default_rng(0), tmp_path/'src'
    srcs = ['hepatocellular_carcinoma/c1/a.png', 'hepatocellular_carcinoma/c1/a.jpg', 'hepatocellular_carcinoma/c2/a.png']
    for p in srcs:
        (d/p).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 200, (64, 64, 3), dtype=np.uint8)).save(d/p)
    pd.DataFrame(dict(path=srcs, label='hepatocellular_carcinoma', case_id=['c1', 'c1', 'c2'])).to_csv(d/'manifest.csv', index=False)
    m = tile_dataset(d, tmp_path/'tiles', tile_size=32, max_background=1)
    assert len(m) == 3 * 4
    want = {read_rgb(d/p)[y:y + 32, x:x + 32].tobytes() for p in srcs for y in (0, 32) for x in (0, 32)}   # as every path reads them
    got = [np.asarray(Image.open(tmp_path/'tiles'/p)).tobytes() for p in m.path]
    assert m.path.nunique() == len(m) and len(set(got)) == len(m) and set(got) == want
    _distinct_files_match(tmp_path/'tiles', m, [read_rgb(d/r.image_path)[r.y:r.y + 32, r.x:r.x + 32]
                                                for r in m.itertuples()])                   # each tile from its own source

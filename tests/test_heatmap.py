"`livertumor predict RUN SLIDE --heatmap DIR` end to end: geometry, the GeoJSON read back, the real Aperio slide, and every bad input named."
import json, shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import run

def cli(*args):
    "`livertumor` in this process (TensorFlow imported once for the module's calls): exit status, stdout and stderr."
    import contextlib, io, types
    from livertumor.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in args])
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())

def _random_run(folder:Path, um_per_px:float|None, size:int=64) -> Path:
    "A run folder with an untrained ResNet50 at 32 px, trained (as its metrics say) on regions of `size` px at `um_per_px`."
    from livertumor.core import write_json_atomic
    from livertumor.models import build_classifier, load_backbone
    from livertumor.predict import save_for_inference
    run_dir, regions = folder/'run', folder/'regions'
    run_dir.mkdir(parents=True); regions.mkdir()
    bb, w = load_backbone('ResNet50', 32, 'none')
    save_for_inference(build_classifier(bb), run_dir, dict(backbone='ResNet50', image_size=32, weights_used=w['used']))
    if um_per_px: write_json_atomic(regions/'regions.json', dict(size=size, um_per_px=um_per_px))
    write_json_atomic(run_dir/'metrics.json', dict(weights_used='random', weights_origin='random initialisation', recipe='from_scratch',
                                                   data_source='tcga', synthetic_data=False, data_path=str(regions), test_accuracy=0.5,
                                                   test_accuracy_ci=[0.3, 0.7], n_cases=dict(test=4), git=dict(commit='0123456789ab')))
    return run_dir

@pytest.fixture(scope='module')
def slides(tmp_path_factory):
    "Two small SYNTHETIC slides (2048 px at 0.5 µm/px) with their class maps."
    out = tmp_path_factory.mktemp('slides')/'s'
    r = run('livertumor', 'synth', '--slides', '2', '--slide-size', '2048', '--out', out)
    assert r.returncode == 0, r.stderr[-2000:]
    return out

def test_heatmap_geometry_geojson_and_provenance(tmp_path, slides):
    from livertumor.heatmap import slide_grid
    from livertumor.slides import open_slide
    run_dir = _random_run(tmp_path, 4.0)                           # 64-px tiles at 4 µm/px: 512 base pixels of a 0.5 µm/px slide
    r = run('livertumor', 'predict', run_dir, slides, '--heatmap', tmp_path/'maps', '--format', 'json')
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert len(out['predictions']) == 2 and all(p['error'] == '' for p in out['predictions'])
    assert any('RANDOM weights' in w for w in out['warnings']) and 'slide(s) mapped' in r.stderr
    for p in out['predictions']:
        slide_path = Path(p['slide']); maps = tmp_path/'maps'/slide_path.name
        slide = open_slide(slide_path); w, h = slide.dimensions
        tiles = pd.read_csv(maps/'tiles.csv')
        grid, _ = slide_grid(slide, 64, 4.0)                        # every tissue tile of the grid, once
        assert sorted(zip(tiles.x, tiles.y)) == sorted(zip(grid.x, grid.y)) and not tiles[['x', 'y']].duplicated().any()
        assert (tiles.x >= 0).all() and (tiles.y >= 0).all() and (tiles.x + tiles.side <= w).all() and (tiles.y + tiles.side <= h).all()
        assert np.allclose(tiles.filter(like='p_').sum(1), 1, atol=1e-3) and p['tiles'] == len(tiles)
        gj = json.loads((maps/'tiles.geojson').read_text())          # QuPath's layout, read back
        assert gj['type'] == 'FeatureCollection' and len(gj['features']) == len(tiles)
        for f, t in zip(gj['features'], tiles.itertuples()):
            ring = f['geometry']['coordinates'][0]
            assert ring[0] == ring[-1] == [t.x, t.y] and ring[2] == [t.x + t.side, t.y + t.side]
            assert f['properties']['classification']['name'] == t.predicted and f['properties']['objectType'] == 'tile'
        rec = json.loads((maps/'slide.json').read_text())
        assert rec['synthetic_slide'] and any('SYNTHETIC' in x for x in rec['warnings']) and rec['run']['commit'] == '0123456789'
        assert rec['answer']['tiles'] == len(tiles) and abs(sum(rec['answer']['class_proportions'].values()) - 1) < 1e-3
        for c in ('cholangiocarcinoma', 'hepatocellular_carcinoma', 'normal_liver'): assert (maps/f'overlay_{c}.png').stat().st_size > 5000
        assert sorted(rec['files']) == sorted(f.name for f in maps.iterdir())

def test_heatmap_real_aperio_slide(tmp_path):
    from livertumor.core import registry_file
    run_dir = _random_run(tmp_path, 2.0)
    (tmp_path/'im').mkdir(); shutil.copy(registry_file('cmu_small_region.svs'), tmp_path/'im'/'cmu.svs')
    r = cli('predict', run_dir, tmp_path/'im'/'cmu.svs', '--heatmap', tmp_path/'maps')
    assert r.returncode == 0, r.stderr[-3000:]
    assert '# weights_used: random' in r.stdout and 'RANDOM weights' in r.stderr
    tiles = pd.read_csv(tmp_path/'maps'/'cmu.svs'/'tiles.csv')
    assert len(tiles) > 10 and (tiles.x + tiles.side <= 2220).all() and (tiles.y + tiles.side <= 2967).all() and (tiles.tissue >= 0.5).all()
    rec = json.loads((tmp_path/'maps'/'cmu.svs'/'slide.json').read_text())
    assert not rec['synthetic_slide'] and abs(rec['geometry']['mpp'] - 0.499) < 1e-3 and rec['geometry']['side'] == round(64 * 2.0 / 0.499)

def test_heatmap_bad_input(tmp_path, slides):
    "An unreadable slide, a slide without resolution (then --mpp), one without tissue, a run of finer resolution, a folder that is not a map: each named."
    import tifffile
    from livertumor.slides import open_slide
    run_dir, bad = _random_run(tmp_path, 4.0), tmp_path/'bad'
    bad.mkdir()
    (bad/'broken.svs').write_text('not a slide')
    good = next(Path(slides).glob('*.tiff')); shutil.copy(good, bad/'good.tiff')
    tissue = np.asarray(open_slide(good).read_region((512, 512), 0, (1024, 1024)).convert('RGB'))     # the middle of a slide: tissue
    tifffile.imwrite(bad/'no_mpp.tiff', tissue, tile=(256, 256))                   # tiled, readable, no resolution recorded
    tifffile.imwrite(bad/'blank.tiff', np.full((1024, 1024, 3), 245, np.uint8), tile=(256, 256), resolution=(20000, 20000), resolutionunit='CENTIMETER')
    r = cli('predict', run_dir, bad, '--heatmap', tmp_path/'maps')
    assert r.returncode == 1, r.stderr[-3000:]
    t = pd.read_csv(__import__('io').StringIO(r.stdout), comment='#').set_index('slide')
    err = {Path(k).name: v for k, v in t.error.fillna('').items()}
    assert err['good.tiff'] == '' and (tmp_path/'maps'/'good.tiff'/'slide.json').is_file()
    assert 'not a whole-slide image OpenSlide can read' in err['broken.svs']
    assert 'does not record its resolution' in err['no_mpp.tiff'] and '--mpp' in err['no_mpp.tiff']
    assert 'found no 64-pixel tile' in err['blank.tiff']
    for name in ('broken.svs', 'no_mpp.tiff', 'blank.tiff'):
        assert f'ERROR: {bad/name}' in r.stderr and not (tmp_path/'maps'/name).exists()      # no empty map written as an answer
    r = cli('predict', run_dir, bad/'no_mpp.tiff', '--heatmap', tmp_path/'maps', '--mpp', '0.5')
    assert r.returncode == 0 and (tmp_path/'maps'/'no_mpp.tiff'/'tiles.csv').is_file(), r.stderr[-2000:]
    fine = _random_run(tmp_path/'fine', 0.25)                                        # trained at 0.25 µm/px: a 0.5 µm/px slide cannot give it
    r = cli('predict', fine, bad/'good.tiff', '--heatmap', tmp_path/'maps2')
    assert r.returncode == 1 and 'scanned at 0.500 µm per pixel; the run was trained on images at 0.250' in r.stderr, r.stderr[-2000:]
    norez = _random_run(tmp_path/'norez', None)
    r = cli('predict', norez, bad/'good.tiff', '--heatmap', tmp_path/'maps3')
    assert r.returncode == 1 and 'records no training resolution' in r.stderr, r.stderr[-2000:]
    (tmp_path/'maps4'/'good.tiff').mkdir(parents=True); (tmp_path/'maps4'/'good.tiff'/'mine.txt').write_text('keep me')
    r = cli('predict', run_dir, bad/'good.tiff', '--heatmap', tmp_path/'maps4')
    assert r.returncode == 1 and 'is not a slide map' in r.stderr and (tmp_path/'maps4'/'good.tiff'/'mine.txt').read_text() == 'keep me'
    r = cli('predict', run_dir, bad/'good.tiff', '--mil', run_dir)
    assert r.returncode == 2 and '--mil applies to whole slides mapped with --heatmap' in r.stderr

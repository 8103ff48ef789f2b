"GDC query and download, end to end against a loopback server that holds slides the way TCGA does and serves a real Aperio slide."
import hashlib, json, socket
import pandas as pd
import pytest
from conftest import run
from gdc_server import CHOL, LIHC, NORMAL, make_hit
from livertumor.core import CLASSES, DataError, registry_file
from livertumor.gdc import GDCError, download_file, query_manifest, read_manifest
from livertumor.data import load_dataset, make_site_fold_plan, read_folds

@pytest.fixture(scope='module')
def slide(): return registry_file('cmu_small_region.svs').read_bytes()

def cases(m, label): return sorted(m[m.label == label].case_id.unique())

def test_query_takes_every_case_one_frozen_slide_each(server, tmp_path):
    m = query_manifest(tmp_path/'m.csv', api_url=server.url)
    assert (cases(m, 'cholangiocarcinoma'), cases(m, 'hepatocellular_carcinoma'), cases(m, 'normal_liver')) == (CHOL, LIHC, NORMAL)
    assert len(m) == len(CHOL) + len(LIHC) + len(NORMAL) and not m.duplicated(['label', 'case_id']).any()   # one slide per case
    assert sum(p == '/files' for p, _ in server.requests) == 1 + 3 + 2   # 3, 7 and 5 tissue slides, pages of 3
    assert (m.preparation == 'frozen').all() and set(m.slide_type) <= {'TS', 'BS'} and m.preparation_confound.isna().all()
    assert set(m[m.label == 'normal_liver'].sample_code) == {'11'} and set(m[m.label != 'normal_liver'].sample_code) == {'01'}
    assert set(m[m.label == 'cholangiocarcinoma'].project) == {'TCGA-CHOL'}
    back = read_manifest(tmp_path/'m.csv')
    assert back.preparation_confound.isna().all()
    pd.testing.assert_frame_equal(back.drop(columns='preparation_confound'), m.drop(columns='preparation_confound'))

def test_max_cases_caps_each_class_reproducibly(server, tmp_path):
    m = query_manifest(tmp_path/'m.csv', max_cases=2, api_url=server.url, seed=3)
    assert m.groupby('label').case_id.nunique().tolist() == [2, 2, 2]
    assert query_manifest(tmp_path/'m2.csv', max_cases=2, api_url=server.url, seed=3).equals(m)
    assert len(query_manifest(tmp_path/'m.csv', api_url=server.url, slides_per_case=2)) == 3 + 7 + 5

def test_matched_normals_stay_in_both_classes_and_are_counted(server, tmp_path, capsys):
    m = query_manifest(tmp_path/'m.csv', api_url=server.url)
    both = sorted(set(cases(m, 'hepatocellular_carcinoma')) & set(cases(m, 'normal_liver')))
    assert both == LIHC[:3] and 'patients with slides in two classes (one group when splitting): 3' in capsys.readouterr().out

def test_barcode_that_disagrees_with_its_class_is_dropped(server, slide, tmp_path, capsys):
    bad = make_hit('TCGA-LIHC', 'TCGA-DD-A008', '01', 'A-01-TS1', slide, sample_type='Solid Tissue Normal')  # a tumour slide filed as normal
    server.hits.append(bad)
    m = query_manifest(tmp_path/'m.csv', api_url=server.url)
    out = capsys.readouterr().out
    assert f"WARNING: dropped {bad['file_name']} from normal_liver: its sample code 01 is not 11 (Solid Tissue Normal)" in out, out
    assert 'TCGA-DD-A008' not in set(m.case_id) and cases(m, 'normal_liver') == NORMAL

def test_diagnostic_slides_of_normal_liver_are_refused(server, tmp_path):
    r = run('livertumor', 'gdc', 'query', '--out', tmp_path/'m.csv', '--slides', 'diagnostic', '--api-url', server.url)
    assert r.returncode == 2 and 'class normal_liver has no diagnostic (FFPE) slides' in r.stderr, r.stderr
    assert '--slides-for normal_liver=tissue' in r.stderr and 'Traceback' not in r.stderr
    assert not server.requests and not (tmp_path/'m.csv').exists()   # refused before the first request

def test_bad_slides_for_names_the_option(tmp_path):
    r = run('livertumor', 'gdc', 'query', '--out', tmp_path/'m.csv', '--slides-for', 'normal_liver')
    assert r.returncode == 2 and "argument --slides-for: 'normal_liver' is not CLASS=KIND" in r.stderr, r.stderr
    r = run('livertumor', 'gdc', 'query', '--out', tmp_path/'m.csv', '--slides-for', 'normal=tissue')
    assert r.returncode == 2 and "slides_for='normal=tissue'" in r.stderr, r.stderr

def test_gdc_build_makes_a_frozen_dataset_of_n_images_per_class(server, tmp_path):
    r = run('livertumor', 'gdc', 'build', '--out', tmp_path/'tcga', '--images-per-class', '7', '--size', '128', '--um-per-px', '1',
            '--api-url', server.url)
    assert r.returncode == 0, r.stderr
    m, info = pd.read_csv(tmp_path/'tcga'/'regions'/'manifest.csv'), json.loads((tmp_path/'tcga'/'regions'/'regions.json').read_text())
    assert m.groupby('label').size().to_dict() == dict.fromkeys(CLASSES, 7) and (m.preparation == 'frozen').all()
    per_case = m[m.label == 'cholangiocarcinoma'].case_id.value_counts()
    assert sorted(per_case.index) == CHOL and per_case.max() - per_case.min() <= 1, per_case   # spread evenly over CHOL's 3 cases
    assert info['classes']['cholangiocarcinoma'] == dict(cases=3, slides=3, images=7, regions_per_slide=[2, 3])
    assert info['classes']['hepatocellular_carcinoma'] == dict(cases=6, slides=6, images=7, regions_per_slide=[1, 2])
    assert (info['images_per_class'], info['preparation_confound'], info['patients_in_two_classes']) == (7, None, 3)
    assert info['preparation'] == dict.fromkeys(CLASSES, 'frozen')
    assert 'cholangiocarcinoma: 3 cases, 3 slides, 2-3 regions per slide, 7 images' in r.stdout, r.stdout
    # the tissue source site of each barcode reaches the slide and region manifests, the dataset and a site-preserved fold plan
    assert 'patients per tissue source site and class' in r.stdout and 'ZU' in r.stdout, r.stdout
    slides = read_manifest(tmp_path/'tcga'/'slides.csv')
    assert (slides.site == slides.case_id.str[5:7]).all() and (m.site == m.case_id.str[5:7]).all()
    images = load_dataset(tmp_path/'tcga'/'regions')
    assert (images.site == images.case_id.str[5:7]).all()
    make_site_fold_plan(images, 2).to_csv(tmp_path/'folds.csv', index=False)
    plan = read_folds(tmp_path/'folds.csv')
    assert (plan.site == plan.case_id.str[5:7]).all() and set(plan.protocol) == {'site-preserved CV'}
    assert plan.groupby('site').fold.nunique().max() == 1 and plan.fold.nunique() == 2

def test_a_named_preparation_mix_is_warned_about_and_recorded(server, tmp_path):
    r = run('livertumor', 'gdc', 'build', '--out', tmp_path/'tcga', '--images-per-class', '2', '--max-cases', '1', '--size', '128',
            '--um-per-px', '1', '--slides', 'diagnostic', '--slides-for', 'normal_liver=tissue', '--api-url', server.url)
    assert r.returncode == 0, r.stderr
    note = 'FFPE for cholangiocarcinoma, hepatocellular_carcinoma; frozen for normal_liver'
    assert f'WARNING: preparation confound: {note}' in r.stdout, r.stdout
    slides = read_manifest(tmp_path/'tcga'/'slides.csv')
    assert (slides.preparation_confound == note).all()
    assert dict(zip(slides.label, slides.slide_type)) == dict(cholangiocarcinoma='DX', hepatocellular_carcinoma='DX', normal_liver='TS')
    m, info = pd.read_csv(tmp_path/'tcga'/'regions'/'manifest.csv'), json.loads((tmp_path/'tcga'/'regions'/'regions.json').read_text())
    assert m.groupby('label').preparation.first().to_dict() == dict(cholangiocarcinoma='FFPE', hepatocellular_carcinoma='FFPE', normal_liver='frozen')
    assert info['preparation_confound'] == note

def test_regions_takes_per_slide_or_images_per_class_not_both(tmp_path):
    r = run('livertumor', 'regions', tmp_path, '--manifest', tmp_path/'m.csv', '--out', tmp_path/'r', '--per-slide', '2', '--images-per-class', '5')
    assert r.returncode == 2 and 'not allowed with argument' in r.stderr, r.stderr

@pytest.mark.parametrize('mode, message', [('missing_field', "lacks the field 'md5sum'"),
                                           ('repeat_page', 'paged wrongly: the page from 3 repeats'),
                                           ('empty_page', 'paged wrongly: an empty page at 3 of 7')])
def test_bad_api_answers_stop_with_a_reason(server, tmp_path, mode, message):
    server.mode = mode
    with pytest.raises(GDCError, match=message): query_manifest(tmp_path/'m.csv', 2, api_url=server.url)
    assert not (tmp_path/'m.csv').exists()

def test_unreachable_api_fails_fast(tmp_path):
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    r = run('livertumor', 'gdc', 'query', '--out', tmp_path/'m.csv', '--max-cases', '2', '--api-url', f'http://127.0.0.1:{port}')
    assert r.returncode == 2 and 'cannot reach the GDC API' in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_cli_query_then_download_verifies_every_slide(server, slide, tmp_path):
    r = run('livertumor', 'gdc', 'query', '--out', tmp_path/'m.csv', '--max-cases', '2', '--api-url', server.url)
    assert r.returncode == 0, r.stderr
    r = run('livertumor', 'gdc', 'download', tmp_path/'m.csv', '--out', tmp_path/'slides', '--api-url', server.url)
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path/'slides').iterdir())
    assert len(files) == 6 and all(f.suffix == '.svs' and f.read_bytes() == slide for f in files)
    r = run('livertumor', 'gdc', 'download', tmp_path/'m.csv', '--out', tmp_path/'slides', '--api-url', server.url)
    assert r.returncode == 0 and server.data_calls == 6                 # verified files are not fetched again

def test_interrupted_download_resumes_with_range(server, slide, tmp_path):
    server.mode = 'drop_once'
    md5 = hashlib.md5(slide).hexdigest()
    out = download_file('f', md5, tmp_path/'s.svs', server.url, size=len(slide), backoff=0.01, progress=False)
    assert out.read_bytes() == slide
    ranges = [rng for p, rng in server.requests if p.startswith('/data/')]
    start = int(ranges[1].split('=')[1].rstrip('-'))
    assert ranges[0] is None and 0 < start <= len(slide) // 2, ranges  # the retry asked only for what was missing

def test_leftover_part_file_is_resumed(server, slide, tmp_path):
    (tmp_path/'s.svs.part').write_bytes(slide[:1000])
    download_file('f', hashlib.md5(slide).hexdigest(), tmp_path/'s.svs', server.url, progress=False)
    assert (tmp_path/'s.svs').read_bytes() == slide and server.requests[-1][1] == 'bytes=1000-'
    assert not (tmp_path/'s.svs.part').exists()

def test_server_ignoring_range_restarts_cleanly(server, slide, tmp_path):
    server.mode = 'ignore_range'
    (tmp_path/'s.svs.part').write_bytes(slide[:1000])
    download_file('f', hashlib.md5(slide).hexdigest(), tmp_path/'s.svs', server.url, progress=False)
    assert (tmp_path/'s.svs').read_bytes() == slide

def test_checksum_mismatch_redownloads_once(server, slide, tmp_path):
    server.mode = 'corrupt_once'
    download_file('f', hashlib.md5(slide).hexdigest(), tmp_path/'s.svs', server.url, progress=False)
    assert (tmp_path/'s.svs').read_bytes() == slide and server.data_calls == 2

def test_checksum_mismatch_twice_keeps_nothing(server, slide, tmp_path):
    server.mode = 'corrupt_always'
    (tmp_path/'other.svs').write_bytes(b'keep')
    with pytest.raises(DataError, match='failed its checksum twice'):
        download_file('f', hashlib.md5(slide).hexdigest(), tmp_path/'s.svs', server.url, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['other.svs'] and server.data_calls == 2

def test_download_rejects_a_manifest_that_is_not_one(tmp_path):
    (tmp_path/'m.csv').write_text('path,label\na.png,normal_liver\n')
    r = run('livertumor', 'gdc', 'download', tmp_path/'m.csv', '--out', tmp_path/'slides')
    assert r.returncode == 2 and 'lacks the column(s) file_id' in r.stderr, r.stderr

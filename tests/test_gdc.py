"GDC query and download, end to end against a loopback server that serves a real Aperio slide."
import hashlib, socket
import pandas as pd
import pytest
from conftest import run
from livertumor.core import DataError, registry_file
from livertumor.gdc import GDCError, download_file, query_manifest, read_manifest

@pytest.fixture(scope='module')
def slide(): return registry_file('cmu_small_region.svs').read_bytes()


def test_query_pages_and_picks_one_slide_per_case(server, tmp_path):
    m = query_manifest(tmp_path/'m.csv', per_class=3, api_url=server.url)
    assert len(m) == 9 and m.groupby('label').case_id.nunique().tolist() == [3, 3, 3]
    assert m.case_id.is_unique                                          # at most one slide per case
    assert sum(p == '/files' for p, _ in server.requests) == 3 * 3      # 8 hits per class, pages of 3
    assert read_manifest(tmp_path/'m.csv').equals(m)
    assert set(m[m.label == 'normal_liver'].sample_type) == {'Solid Tissue Normal'}
    assert set(m[m.label == 'cholangiocarcinoma'].project) == {'TCGA-CHOL'}

def test_query_says_what_is_possible(server, tmp_path):
    with pytest.raises(DataError, match='has 4 cases with open slides, fewer than per_class=5'): query_manifest(tmp_path/'m.csv', 5, api_url=server.url)
    assert not (tmp_path/'m.csv').exists()
    assert len(query_manifest(tmp_path/'m.csv', 5, api_url=server.url, allow_fewer=True)) == 12
    assert len(query_manifest(tmp_path/'m.csv', 2, api_url=server.url, slides_per_case=2)) == 12

@pytest.mark.parametrize('mode, message', [('missing_field', "lacks the field 'md5sum'"),
                                           ('repeat_page', 'paged wrongly: the page from 3 repeats'),
                                           ('empty_page', 'paged wrongly: an empty page at 3 of 8')])
def test_bad_api_answers_stop_with_a_reason(server, tmp_path, mode, message):
    server.mode = mode
    with pytest.raises(GDCError, match=message): query_manifest(tmp_path/'m.csv', 2, api_url=server.url)
    assert not (tmp_path/'m.csv').exists()

def test_unreachable_api_fails_fast(tmp_path):
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    r = run('livertumor', 'gdc', 'query', '--out', tmp_path/'m.csv', '--per-class', '2', '--api-url', f'http://127.0.0.1:{port}')
    assert r.returncode == 2 and 'cannot reach the GDC API' in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_cli_query_then_download_verifies_every_slide(server, slide, tmp_path):
    r = run('livertumor', 'gdc', 'query', '--out', tmp_path/'m.csv', '--per-class', '2', '--api-url', server.url)
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
    out = download_file('LIHC-T-0-0', md5, tmp_path/'s.svs', server.url, size=len(slide), backoff=0.01, progress=False)
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

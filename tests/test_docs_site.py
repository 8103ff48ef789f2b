"`livertumor docs` builds the site offline; headless Chromium opens the index, the training page and an API page."
import html, os, re, shutil, subprocess
import pytest
from conftest import run

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']

@pytest.fixture(scope='module')
def chromium():
    "Debian's chromium, installed by this set-up when missing (as root); skipped, with the reason, where it cannot be."
    if not shutil.which('chromium') and os.geteuid() == 0 and shutil.which('apt-get'):
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        subprocess.run(['apt-get', 'update', '-qq'], capture_output=True, env=env, timeout=600)
        subprocess.run(['apt-get', 'install', '-y', '-qq', 'chromium'], capture_output=True, env=env, timeout=900)
    if not (exe := shutil.which('chromium')): pytest.skip("Debian's chromium is not installed and could not be installed here (needs root and apt-get)")
    return exe

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site built from a recorded smoke study (one model and its report)."
    d = tmp_path_factory.mktemp('docs')
    r = run('livertumor', 'study', '--models', 'EfficientNetLite0', '--preset', 'smoke', '--folds', '1', '--runs', d/'runs', '--figures', d/'figures')
    assert r.returncode == 0, r.stderr[-3000:]
    r = run('livertumor', 'docs', '--out', d/'site', '--runs', d/'runs', '--model', 'EfficientNetLite0')
    assert r.returncode == 0 and (d/'site'/'index.html').is_file(), r.stderr[-3000:]
    return d/'site'

def open_page(chromium, site, page, tmp_path):
    "The page's DOM after load, each image's natural width in body[data-widths], and a screenshot beside the site."
    probe = site/f'_probe_{page}'
    probe_js = ('window.addEventListener("load", () => {document.body.setAttribute("data-widths", [...document.images].map(i => i.naturalWidth).join(","));'
                # the results table: its tallest row and how far it reaches past the article that holds it (px)
                'const t = [...document.querySelectorAll("table")].find(t => t.textContent.includes("Test Accuracy"));'
                'if (t) document.body.setAttribute("data-table", [Math.max(...[...t.rows].map(r => r.getBoundingClientRect().height)),'
                't.getBoundingClientRect().right - t.closest("article").getBoundingClientRect().right].map(Math.round).join(","));});')
    html = (site/page).read_text().replace('</body>', f'<script>{probe_js}</script></body>')
    probe.write_text(html)
    common = [chromium, *FLAGS, f'--user-data-dir={tmp_path/"profile"}', '--virtual-time-budget=10000', '--window-size=1400,1800']
    dom = subprocess.run([*common, '--dump-dom', probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    subprocess.run([*common, f'--screenshot={site.parent/(page + ".png")}', (site/page).as_uri()], capture_output=True, timeout=120)
    probe.unlink()
    return dom

def text_of(dom):
    "The page's visible text, tags and scripts removed, entities decoded, white space collapsed."
    return re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', '', re.sub(r'<(script|style)[^>]*>.*?</\1>', ' ', dom, flags=re.S))))

def test_site_in_a_real_browser(chromium, site, tmp_path):
    index = open_page(chromium, site, 'index.html', tmp_path)
    assert '<h2' in index and 'Results' in text_of(index) and 'Set up and run' in text_of(index)
    assert re.search(r'<table[^>]*>.*Test Accuracy.*</table>', index, re.S), 'no results table on the index'
    widths = [int(w) for w in re.search(r'data-widths="([^"]*)"', index).group(1).split(',') if w]
    assert widths and max(widths) > 0, f'no figure loaded on the index: natural widths {widths}'
    tallest, past = map(int, re.search(r'data-table="([^"]*)"', index).group(1).split(','))
    assert tallest < 150 and past <= 0, f'the results table is stretched: its tallest row is {tallest} px, it reaches {past} px past the page'
    assert re.search(r'<strong>F1</strong>', index), "the results table's flags are not listed below it"
    train = open_page(chromium, site, 'train.html', tmp_path)
    assert 'Training one backbone' in text_of(train) and 'recorded run' in text_of(train)
    assert 'EfficientNetLite0' in text_of(train) and re.search(r'<img[^>]+src="[^"]*_images', train), 'no executed figure on the training page'
    api = open_page(chromium, site, 'data.html', tmp_path)
    assert re.search(r'<table[^>]*>.*Details.*case_pattern.*</table>', api, re.S), 'no show_doc parameter table on the API page'
    assert '<root>/<class>/<image>' in text_of(api), "load_dataset's docment is not shown as written (read as HTML tags?)"
    slides = open_page(chromium, site, 'slide_maps.html', tmp_path)      # the slide maps of the committed main job, from figures/
    assert 'Slide maps' in text_of(slides) and 'Dice' in text_of(slides), 'no slide-map page'
    widths = [int(w) for w in re.search(r'data-widths="([^"]*)"', slides).group(1).split(',') if w]
    assert widths and max(widths) > 1000, f'the slide figure did not load on the slide-map page: natural widths {widths}'
    for page, dom in (('index', index), ('train', train), ('data', api), ('slides', slides)):
        assert '#|' not in text_of(dom), f'a cell directive is visible on {page}'
        hidden = ('from fastcore.test import', 'nbdev.showdoc import', 'from IPython.display import Markdown', 'figures_dir()')
        assert not [h for h in hidden if h in text_of(dom)], f'text of a hidden or echo: false cell is visible on {page}'
        assert not re.search(r'(src|href)="https?://(?!livertumor\.github\.io|github\.com)[^"]*\.(css|js|woff2?)', dom), f'a remote asset on {page}'
    assert all((site.parent/f'{p}.html.png').stat().st_size > 10_000 for p in ('index', 'train', 'data'))


def test_site_builds_without_a_recorded_run(tmp_path):
    "A fresh clone has no runs/: the site is built anyway, its training and report pages saying they show no recorded run."
    r = run('livertumor', 'docs', '--out', tmp_path/'site', '--runs', tmp_path/'no-runs', '--model', 'EfficientNetLite0')
    assert r.returncode == 0 and (tmp_path/'site'/'index.html').is_file(), r.stderr[-3000:]
    for page in ('train', 'report'):
        text = text_of((tmp_path/'site'/f'{page}.html').read_text())
        assert 'without outputs: the site was built with no recorded run' in text and 'livertumor docs --record' in text, page
    assert (tmp_path/'site'/'data.html').is_file() and not (tmp_path/'no-runs').exists()

"The synthetic generator's promises, measured on real generated sets: colour is not the label, morphology is."
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import run, BIN
from livertumor.synthetic import ensure_synthetic, colour_check, morphology_check

@pytest.fixture(scope='module')
def default_set(): return ensure_synthetic()                       # the embedded default, data/synthetic

@pytest.fixture(scope='module')
def easy_set(tmp_path_factory): return ensure_synthetic(tmp_path_factory.mktemp('easy')/'s', difficulty=0.3)   # the morphology check's setting

@pytest.fixture(scope='module')
def hard_set(tmp_path_factory): return ensure_synthetic(tmp_path_factory.mktemp('hard')/'s', difficulty=1.0)

def test_colour_is_not_the_label_within_a_site(default_set):
    c = colour_check(default_set, within_site=True)    # the sites' signatures are the shortcut; beyond them colour says nothing
    print(c)
    # the bound is 0.55; 0.05 margin for the noise of 42 cases
    assert c['histogram_accuracy'] <= 0.60 and c['mean_std_accuracy'] <= 0.60, c

@pytest.mark.slow
def test_morphology_is_and_difficulty_hides_it(easy_set, hard_set):
    easy, hard = morphology_check(easy_set, folds=1), morphology_check(hard_set, folds=1)  # the first case-grouped fold
    print(easy, hard)
    # The target is 0.85, asserted as is: the notebook measures 1.0 on this fold (0.96 over three), a margin
    # of 0.15 above the target. At difficulty 1.0 the notebook measures about 0.42 (0.31 on this fold),
    # so one fold shows the drop.
    assert easy['test_accuracy'] >= 0.85, easy
    assert hard['test_accuracy'] <= easy['test_accuracy'] - 0.10, (easy, hard)

def test_same_seed_same_bytes_through_the_cli(tmp_path):
    args = ['--per-class', '3', '--size', '128', '--images-per-case', '2']
    assert run('livertumor', 'synth', '--out', tmp_path/'a', '--seed', '5', *args).returncode == 0
    assert run('livertumor', 'synth', '--out', tmp_path/'b', '--seed', '5', '--workers', '1', *args).returncode == 0
    assert run('livertumor', 'synth', '--out', tmp_path/'c', '--seed', '6', *args).returncode == 0
    files = sorted(p.relative_to(tmp_path/'a') for p in (tmp_path/'a').rglob('*.png'))
    assert len(files) == 9 and all(f.name.startswith('SYN-') for f in files)
    assert all((tmp_path/'a'/f).read_bytes() == (tmp_path/'b'/f).read_bytes() for f in files)
    assert any((tmp_path/'a'/f).read_bytes() != (tmp_path/'c'/f).read_bytes() for f in files)
    assert (tmp_path/'a'/'manifest.csv').read_text() == (tmp_path/'b'/'manifest.csv').read_text()

def test_killed_generation_leaves_nothing_to_trust(tmp_path):
    out = tmp_path/'s'
    p = subprocess.Popen([str(BIN/'livertumor'), 'synth', '--out', str(out), '--per-class', '70', '--workers', '1'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob('.s.partial-*/*/*.png')): time.sleep(0.2)
    assert list(tmp_path.glob('.s.partial-*/*/*.png')), 'generation never started writing'
    p.send_signal(signal.SIGKILL); p.wait()
    assert not out.exists()                                        # nothing at the destination
    r = run('livertumor', 'synth', '--out', out, '--per-class', '2', '--size', '128', '--workers', '1')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['s']     # the killed run's staging folder is cleaned up

def test_bad_parameters_are_named(tmp_path):
    (tmp_path/'mine').mkdir(); (tmp_path/'mine'/'slide.svs').write_text('precious')
    for args, expect in [(['--per-class', '0'], 'per_class=0'), (['--per-class', '-2'], 'per_class=-2'),
                         (['--size', '100'], 'size=100'), (['--difficulty', '2'], 'difficulty=2'),
                         (['--images-per-case', '0'], 'images_per_case=0')]:
        r = run('livertumor', 'synth', '--out', tmp_path/'x', *args)
        assert r.returncode == 2 and expect in r.stderr and 'Traceback' not in r.stderr, (args, r.stderr)
    r = run('livertumor', 'synth', '--out', tmp_path/'mine', '--overwrite')
    assert r.returncode == 2 and 'not a synthetic set' in r.stderr
    assert (tmp_path/'mine'/'slide.svs').read_text() == 'precious'

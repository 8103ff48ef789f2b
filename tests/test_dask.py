"""`livertumor study --scheduler`: the runs of a study dispatched to a Dask distributed cluster give the table the same study gives locally."""
import re
import pandas as pd
import pytest
from conftest import run

ARGS = ('study', '--models', 'EfficientNetLite0', '--preset', 'smoke', '--folds', '2', '--patient-cv', '--deterministic')

def _table(figures) -> pd.DataFrame:
    "The results table without the columns that name when or where a run ran."
    t = pd.read_csv(figures/'results.csv')
    return t[[c for c in t.columns if c in ('Model', 'Kind', 'Protocol', 'Train Accuracy', 'Test Accuracy', 'Test 95% CI (by case)', 'Weights source')]]

def test_study_on_a_local_dask_cluster_equals_the_local_study(tmp_path):
    distributed = pytest.importorskip('distributed')
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1', dashboard_address=None,
                                  death_timeout=60) as cluster:
        r = run('livertumor', *ARGS, '--scheduler', cluster.scheduler_address, '--runs', tmp_path/'dask', '--figures', tmp_path/'dask-figures',
                timeout=600)                                                            # bounded: a hung worker fails the test
        workers = set(cluster.scheduler_info['workers'])
    assert r.returncode == 0, r.stderr[-3000:]
    ran_on = set(re.findall(r'fold\dof2: done in [\d.]+ min on (\S+):', r.stdout))
    assert ran_on == workers and len(workers) == 2, (ran_on, workers, r.stdout[-2000:])      # each worker ran a fold
    r = run('livertumor', *ARGS, '--runs', tmp_path/'local', '--figures', tmp_path/'local-figures', timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert ' on tcp://' not in r.stdout
    pd.testing.assert_frame_equal(_table(tmp_path/'dask-figures'), _table(tmp_path/'local-figures'))

def test_scheduler_that_does_not_answer_is_named(tmp_path):
    pytest.importorskip('distributed')
    r = run('livertumor', *ARGS, '--scheduler', 'tcp://127.0.0.1:9', '--runs', tmp_path, timeout=120)
    assert r.returncode == 2 and '--scheduler' in r.stderr and 'tcp://127.0.0.1:9' in r.stderr, r.stderr[-2000:]

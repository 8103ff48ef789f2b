"End to end: a study on data whose manifest names sites, through the `livertumor` console command (a file of its own, so that pytest-xdist runs it beside test_cli.py's smoke study)."
import json
import pandas as pd
import pytest
from conftest import run

def test_site_preserved_study_tests_each_site_in_one_fold(tmp_path):
    "A data set whose manifest names sites, TCGA-like (cholangiocarcinoma from its own sites): site-preserved by default, the headline model also by patient."
    from livertumor.synthetic import make_synthetic_dataset
    from livertumor.stats import site_association
    m = make_synthetic_dataset(tmp_path/'data', per_class=36, size=128, images_per_case=2, workers=1)
    group = {'cholangiocarcinoma': 'C', 'hepatocellular_carcinoma': 'L', 'normal_liver': 'L'}
    m.assign(site=[f'{group[l]}{int(c[-3:]) % 3}' for l, c in zip(m.label, m.case_id)]).to_csv(tmp_path/'data'/'manifest.csv', index=False)
    runs, figures = tmp_path/'runs', tmp_path/'figures'
    r = run('livertumor', 'study', '--models', 'VGG16', '--preset', 'smoke', '--folds', '2', '--compare-protocols', '--baselines',
            '--data', tmp_path/'data', '--runs', runs, '--figures', figures)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'site-preserved folds by default: the data records sites' in r.stdout, r.stdout[-3000:]
    plan = pd.read_csv(runs/'folds-site.csv', dtype=str)
    assert set(plan.protocol) == {'site-preserved CV'} and plan.groupby('site').fold.nunique().max() == 1
    for f in range(2):                      # no test patient's site is seen in training or validation
        s = pd.read_csv(runs/f'VGG16-site-fold{f}of2'/'splits.csv', dtype=str)
        assert set(s.site[s.split == 'test']).isdisjoint(s.site[s.split != 'test'])
        assert set(s.case_id[s.split == 'test']) == set(plan.case_id[plan.fold == str(f)])
    for name in ('VGG16-site', 'SVM-hog-site'):
        meta = json.loads((runs/name/'metrics.json').read_text())
        assert meta['protocol'] == 'site-preserved CV' and meta['data_warnings'][-1].startswith("site and class associated: Cramér's V")
    # --compare-protocols: the headline model alone also by patient, on its own plan; no baselines under that protocol
    assert set(pd.read_csv(runs/'folds.csv', dtype=str).protocol) == {'patient CV'} and json.loads((runs/'VGG16'/'metrics.json').read_text())['protocol'] == 'patient CV'
    assert not (runs/'SVM-hog').exists()
    table = pd.read_csv(figures/'results.csv')
    assert set(table.Protocol) == {'site-preserved CV, 2 folds', 'patient CV, 2 folds'} and table.Flags.str.contains('site and class associated').all()
    assert table.Protocol.eq('patient CV, 2 folds').sum() == 1
    c = pd.read_csv(figures/'comparisons.csv')
    assert (c.Question == 'patient CV against site-preserved CV').sum() == 1
    # the site control: a probe on VGG16's frozen features (random weights offline), reported with the paired protocols
    probe = json.loads((runs/'site_probe.json').read_text())
    assert probe['backbone'] == 'VGG16' and probe['weights'] == 'random' and probe['sites'] + len(probe['left_out']) == plan.site.nunique()
    assert 0 <= probe['ci'][0] <= probe['accuracy'] <= probe['ci'][1] <= 1 and probe['signal'] == (probe['ci'][0] > probe['majority'])
    text = (figures/'site_probe.md').read_text()
    assert text.startswith('**Site probe.**') and f"{probe['accuracy']:.2f}" in text and 'under patient CV against' in text, text
    sites = pd.read_csv(figures/'sites.csv', dtype={'Site': str}).set_index('Site')
    assoc = site_association(pd.read_csv(runs/'VGG16-site-fold0of2'/'splits.csv', dtype=str))
    assert sites.values.tolist() == assoc['table'].values.tolist() and list(sites.index) == list(assoc['table'].index)
    # the section's numbers in figures/sites_summary.json, as site_demonstration reads them for the README
    from livertumor.synthetic import site_demonstration
    summary, pair = json.loads((figures/'sites_summary.json').read_text()), c[c.Question == 'patient CV against site-preserved CV'].iloc[0]
    assert summary['probe'] == probe and summary['cramers_v'] == pytest.approx(assoc['cramers_v'])
    assert (summary['protocols'][0]['difference'], summary['protocols'][0]['ci']) == (pair['Difference (A − B)'], pair['95% CI (paired, by case)'])
    row = site_demonstration(figures).query("source == 'main job (figures/)'").iloc[0]
    assert (row.probe_accuracy, row.paired_difference, row.commit) == (probe['accuracy'], pair['Difference (A − B)'], probe['git']['commit'][:7])

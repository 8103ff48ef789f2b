"""One way per thing: the library's structure, checked from its source (fast, no TensorFlow).

Each check names the file and line that brings a second way back."""
import ast, json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = {p.stem for p in (ROOT/'livertumor').glob('*.py') if not p.stem.startswith('_')}

def _sources():
    "(where, its own module or None, parsed code) of every library module, test, benchmark and notebook's code cells."
    for p in sorted((ROOT/'livertumor').glob('*.py')):
        if not p.stem.startswith('_'): yield str(p.relative_to(ROOT)), p.stem, ast.parse(p.read_text())
    for folder in ('tests', 'benchmarks'):
        for p in sorted((ROOT/folder).glob('*.py')): yield str(p.relative_to(ROOT)), None, ast.parse(p.read_text())
    for p in sorted((ROOT/'nbs').glob('*.ipynb')):
        cells = [''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'code']
        own = next((l.split()[-1] for c in cells for l in c.splitlines() if l.startswith('#| default_exp')), None)
        code = '\n'.join('\n'.join(l for l in c.splitlines() if not l.lstrip().startswith(('%', '!'))) for c in cells)
        yield str(p.relative_to(ROOT)), own, ast.parse(code)

def private_uses(tree, own):
    "(line, module, name) where `tree` takes a private name from a livertumor module other than `own`."
    aliases, out = {}, []            # local name → livertumor module, from `import livertumor.x as y` / `from livertumor import x`
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            mod = (n.module or '').removeprefix('livertumor.') if (n.module or '').startswith('livertumor') or n.level else None
            if mod == 'livertumor' or (n.level and not n.module):          # from livertumor import data
                for a in n.names: aliases[a.asname or a.name] = a.name
            elif mod in MODULES:
                out += [(n.lineno, mod, a.name) for a in n.names if a.name.startswith('_') and mod != own]
        elif isinstance(n, ast.Import):
            for a in n.names:
                if a.name.startswith('livertumor.') and a.asname: aliases[a.asname] = a.name.split('.', 1)[1]
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and n.attr.startswith('_') and not n.attr.startswith('__'):
            v = n.value
            mod = aliases.get(v.id) if isinstance(v, ast.Name) else (v.attr if isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name)
                                                                      and v.value.id == 'livertumor' else None)
            if mod in MODULES and mod != own: out.append((n.lineno, mod, n.attr))
    return out

def test_no_private_names_across_modules():
    "A name starting with _ is its module's own: another module, a test, a benchmark or a notebook that needs it needs public API."
    found = [f'{where}:{line}: {mod}.{name}' for where, own, tree in _sources() for line, mod, name in private_uses(tree, own)]
    assert not found, 'private names used outside their module:\n' + '\n'.join(found)

def test_the_private_name_check_can_fail():
    tree = ast.parse('from livertumor.record import _stale\nfrom .metrics import held_out_rows\nimport livertumor.train as t\nt._fit_phases()\n'
                     'from livertumor import cli\ncli._study(None)\n')
    assert [(m, n) for _, m, n in private_uses(tree, 'results')] == [('record', '_stale'), ('train', '_fit_phases'), ('cli', '_study')]
    assert private_uses(ast.parse('from livertumor.synthetic import _image_job'), 'synthetic') == []   # its own module: allowed

def _calls(tree, attr):
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr]

def test_one_gpu_question():
    "Whether a GPU is visible is asked in one place, `core.gpu_visible`; every `auto` choice calls it."
    found = [f'{where}:{line}' for where, own, tree in _sources() if own != 'core' and not where.startswith('livertumor/core')
             for line in _calls(tree, 'list_physical_devices')]
    assert not found, 'list_physical_devices outside core.gpu_visible:\n' + '\n'.join(found)
    assert _calls(ast.parse("tf.config.list_physical_devices('GPU')"), 'list_physical_devices') == [1]

def test_functions_are_named_as_functions():
    """A name in CapWords is a class; a function that makes an object (a Keras callback, say) is named for what it does.
    The one exception is Keras Applications' own convention: a backbone's constructor carries the model's name."""
    keras_style = {'EfficientNetLite0'}
    found = [f'{where}:{n.lineno}: def {n.name}' for where, own, tree in _sources() if where.startswith('livertumor/')
             for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.lstrip('_')[:1].isupper() and n.name not in keras_style]
    assert not found, 'functions named like classes:\n' + '\n'.join(found)

def test_every_module_page_opens_with_what_it_owns():
    "Each module's notebook (and so its docs page) opens, under its title, with the one paragraph of what it owns and what it must not do."
    missing = []
    for p in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')):
        md = [''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'markdown']
        first = next((m for i, m in enumerate(md[1:], 1) if md[i - 1].startswith('# ')), '')
        if not (first.startswith('**Owns**') and '**Must not**' in first): missing.append(p.name)
    assert not missing, 'module notebooks without their Owns / Must not paragraph under the title:\n' + '\n'.join(missing)

def test_one_table_reader():
    "The library and the study's notebooks read every CSV through `core.read_table`, whose `TABLES` declares each kind's columns once; tests may read independently."
    study = ('nbs/report.ipynb', 'nbs/index.ipynb', 'nbs/train.ipynb')
    found = [f'{where}:{line}' for where, own, tree in _sources() if (where.startswith('livertumor/') or where in study) and where != 'livertumor/core.py'
             for line in _calls(tree, 'read_csv')]
    assert not found, 'CSV read outside core.read_table:\n' + '\n'.join(found)

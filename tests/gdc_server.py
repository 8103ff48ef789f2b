"""A loopback stand-in for the GDC API: `/files` in the GDC's JSON shape and `/data/{file_id}` with Range support.

It holds slides the way TCGA does: diagnostic (DX, FFPE) slides only from tumour samples (sample code 01); Solid Tissue
Normal samples (code 11) only as frozen tissue slides (TS, BS); LIHC tumour patients with frozen TS slides too; most
normal patients are LIHC tumour patients (matched normals); and TCGA-CHOL is small, with fewer cases than TCGA-LIHC."""
import hashlib, json, math, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SAMPLE_TYPES = {'01': 'Primary Tumor', '11': 'Solid Tissue Normal'}
LIHC = sorted(f'TCGA-{s}-A{i:03d}' for i, s in zip(range(1, 7), ('DD', 'DD', 'ED', 'ED', '2V', '2V')))   # 6 hepatocellular carcinoma patients, 3 sites
CHOL = sorted(f'TCGA-{s}-A{i:03d}' for i, s in zip(range(1, 4), ('W5', 'ZU', '3X')))                    # 3 cholangiocarcinoma patients: a small project
NORMAL = sorted(LIHC[:3] + ['TCGA-DD-A007'])                                # 4 normal patients, 3 of them matched to LIHC tumours (LIHC's sites)
# (project, case, sample code, barcode tail after the sample code)
SLIDES = ([('TCGA-LIHC', c, '01', t) for c in LIHC for t in ('Z-00-DX1', 'A-01-TS1')] + [('TCGA-LIHC', LIHC[0], '01', 'A-01-BS1')]
          + [('TCGA-CHOL', c, '01', t) for c in CHOL for t in ('Z-00-DX1', 'A-01-TS1')]
          + [('TCGA-LIHC', c, '11', 'A-01-TS1') for c in NORMAL] + [('TCGA-LIHC', NORMAL[-1], '11', 'A-01-BS1')])

def make_hit(project, case, code, tail, payload: bytes, sample_type=None):
    "One `/files` hit for the slide `<case>-<code><tail>`; `sample_type` overrides the one its code names (a mislabelled file)."
    barcode = f'{case}-{code}{tail}'
    fid = str(uuid.uuid5(uuid.NAMESPACE_URL, barcode))
    return {'id': fid, 'file_id': fid, 'file_name': f'{barcode}.{uuid.uuid5(uuid.NAMESPACE_DNS, barcode)}.svs',
            'md5sum': hashlib.md5(payload).hexdigest(), 'file_size': len(payload), 'data_format': 'SVS', 'data_type': 'Slide Image',
            'access': 'open', 'experimental_strategy': 'Diagnostic Slide' if '-DX' in tail else 'Tissue Slide',
            'cases': [{'submitter_id': case, 'project': {'project_id': project},
                       'samples': [{'sample_type': sample_type or SAMPLE_TYPES[code], 'submitter_id': f'{case}-{code}{tail[0]}'}]}]}

def values(obj, path):
    "Every value at a dotted field path, through lists, as the GDC's filters read them."
    if isinstance(obj, list): return [v for o in obj for v in values(o, path)]
    if not path: return [obj]
    head, _, rest = path.partition('.')
    return values(obj[head], rest) if isinstance(obj, dict) and head in obj else []

def matches(hit, f):
    "Whether `hit` passes the filter `f` (ops 'and' and 'in')."
    if f['op'] == 'and': return all(matches(hit, g) for g in f['content'])
    if f['op'] == 'in': return bool(set(values(hit, f['content']['field'])) & set(f['content']['value']))
    raise ValueError(f"unsupported filter op {f['op']!r}")

def project(obj, fields):
    "`obj` holding only the dotted `fields`, as the GDC answers a `fields` list."
    if isinstance(obj, list): return [project(o, fields) for o in obj]
    heads = {}
    for f in fields: h, _, rest = f.partition('.'); heads.setdefault(h, []).append(rest)
    return {h: obj[h] if '' in rest else project(obj[h], rest) for h, rest in heads.items() if h in obj}

class GDCServer(ThreadingHTTPServer):
    """Knobs: `hits` (append to add files); `max_page` caps page size; `mode` is one of None, 'missing_field', 'repeat_page',
    'empty_page', 'drop_once', 'corrupt_once', 'corrupt_always', 'ignore_range'. `requests` logs (path, Range header)."""
    def __init__(self, payload: bytes):
        super().__init__(('127.0.0.1', 0), Handler)
        self.payload, self.mode, self.max_page, self.requests, self.data_calls = payload, None, 3, [], 0
        self.hits = [make_hit(*s, payload) for s in SLIDES]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self): return f'http://127.0.0.1:{self.server_address[1]}'

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a): pass

    def _json(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code); self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)

    def do_POST(self):
        srv = self.server
        srv.requests.append((self.path, None))
        if self.path != '/files': return self._json({'message': 'not found'}, 404)
        q = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        try: hits = [h for h in srv.hits if 'filters' not in q or matches(h, q['filters'])]
        except (ValueError, KeyError, TypeError) as e: return self._json({'message': f'bad filters: {e}'}, 400)
        start, size = int(q.get('from', 0)), min(int(q.get('size', 10)), srv.max_page)
        page = hits[start:start + size]
        if srv.mode == 'repeat_page': page = hits[:size]
        if srv.mode == 'empty_page' and start > 0: page = []
        if 'fields' in q: page = project(page, ['id'] + q['fields'].split(','))
        if srv.mode == 'missing_field': page = [{k: v for k, v in h.items() if k != 'md5sum'} for h in page]
        self._json({'data': {'hits': page, 'pagination': {'count': len(page), 'total': len(hits), 'size': size, 'from': start,
                                                          'sort': '', 'page': start // size + 1, 'pages': math.ceil(len(hits) / size)}},
                    'warnings': {}})

    def do_GET(self):
        srv, rng = self.server, self.headers.get('Range')
        srv.requests.append((self.path, rng))
        if not self.path.startswith('/data/'): return self._json({'message': 'not found'}, 404)
        srv.data_calls += 1
        data, start = srv.payload, 0
        if srv.mode in ('corrupt_always',) or (srv.mode == 'corrupt_once' and srv.data_calls == 1):
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        if rng and srv.mode != 'ignore_range':
            start = int(rng.split('=')[1].split('-')[0])
            if start >= len(data):
                self.send_response(416); self.end_headers(); return
            self.send_response(206); self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else: self.send_response(200)
        self.send_header('Content-Length', str(len(data) - start)); self.end_headers()
        if srv.mode == 'drop_once' and srv.data_calls == 1:
            self.wfile.write(data[start:start + len(data) // 2]); self.wfile.flush()
            self.connection.shutdown(2); return                       # the connection dies half way
        self.wfile.write(data[start:])

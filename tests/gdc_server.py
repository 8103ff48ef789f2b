"A loopback stand-in for the GDC API: `/files` in the GDC's JSON shape and `/data/{file_id}` with Range support."
import hashlib, json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROJECTS = {('TCGA-LIHC', 'Primary Tumor'): 'LIHC-T', ('TCGA-CHOL', 'Primary Tumor'): 'CHOL-T',
            ('TCGA-LIHC', 'Solid Tissue Normal'): 'LIHC-N'}

def make_hits(payload: bytes, cases_per_class=4, slides_per_case=2):
    "Hits for every class; every file's content is `payload` (a real slide)."
    md5, hits = hashlib.md5(payload).hexdigest(), []
    for (project, sample_type), code in PROJECTS.items():
        for c in range(cases_per_class):
            for s in range(slides_per_case):
                case = f'TCGA-{code}-{c:04d}'
                hits.append({'id': f'{code}-{c}-{s}', 'file_id': f'{code}-{c}-{s}', 'file_name': f'{case}-DX{s + 1}.svs',
                             'md5sum': md5, 'file_size': len(payload), 'experimental_strategy': 'Diagnostic Slide',
                             'cases': [{'submitter_id': case, 'project': {'project_id': project},
                                        'samples': [{'sample_type': sample_type}]}]})
    return hits

class GDCServer(ThreadingHTTPServer):
    """Knobs: `max_page` caps page size; `mode` is one of None, 'missing_field', 'repeat_page', 'empty_page',
    'drop_once', 'corrupt_once', 'corrupt_always', 'ignore_range'. `requests` logs (path, Range header)."""
    def __init__(self, payload: bytes, **kw):
        super().__init__(('127.0.0.1', 0), Handler)
        self.payload, self.hits, self.mode, self.max_page, self.requests, self.data_calls = payload, make_hits(payload, **kw), None, 3, [], 0
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
        want = {f['content']['field']: f['content']['value'][0] for f in q['filters']['content']}
        hits = [h for h in srv.hits if h['cases'][0]['project']['project_id'] == want['cases.project.project_id']
                and h['cases'][0]['samples'][0]['sample_type'] == want['cases.samples.sample_type']
                and h['experimental_strategy'] == want['experimental_strategy']]
        start, size = int(q.get('from', 0)), min(int(q.get('size', 10)), srv.max_page)
        page = hits[start:start + size]
        if srv.mode == 'repeat_page': page = hits[:size]
        if srv.mode == 'empty_page' and start > 0: page = []
        page = [{k: v for k, v in h.items() if k != 'experimental_strategy'} for h in page]
        if srv.mode == 'missing_field': page = [{k: v for k, v in h.items() if k != 'md5sum'} for h in page]
        self._json({'data': {'hits': page, 'pagination': {'count': len(page), 'total': len(hits), 'size': size,
                                                          'from': start, 'sort': '', 'page': 1, 'pages': 1}},
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

import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { XendError, XendInvalidDomain, XendXmlRpcServer, FAULT_TEXT } from '../src/index.js';

const run = promisify(execFile);

async function startServer(opts = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xend-rpc-'));
  const srv = new XendXmlRpcServer({ log: () => {}, ...opts });
  srv.register('xend.domains', (detail: boolean) => (detail ? [['domain', ['domid', 0], ['name', 'Domain-0']]] : ['Domain-0']), { params: [{ name: 'detail', type: 'boolean', optional: true }] });
  srv.register('xend.domain.pause', (dom: string) => {
    if (dom === 'Domain-0' || dom === '0') throw new XendError('Cannot pause privileged domain 0');
    if (dom !== 'vm1') throw new XendInvalidDomain(dom);
    return null;
  }, { params: [{ name: 'dom', type: 'domain' }] });
  srv.register('xend.node.dmesg.info', () => "(XEN) it's \"here\"\n\tdone\x01");
  srv.register('echo', (v: unknown) => v, { params: [{ name: 'v', type: 'any' }] });
  srv.register('big', () => ({ small: 7, large: 2 ** 40, float: 1.5, neg: -3 }));
  srv.register('badresult', () => [['name', 'a\x01']]);
  srv.register('boom', () => { throw new TypeError('kaput'); });
  const sock = path.join(dir, 'run/xend/xmlrpc.sock');
  await srv.listenUnix(sock);
  const tcp = await srv.listenTcp(0);
  return { srv, dir, sock, port: tcp.port, async stop() { await srv.close(); await rm(dir, { recursive: true, force: true }); } };
}

function post(target: { port?: number; socketPath?: string }, body: string | Buffer, headers: Record<string, string> = {}, method = 'POST', urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...target, host: '127.0.0.1', method, path: urlPath, agent: false, headers: { 'Content-Type': 'text/xml', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const call = (method: string, ...params: string[]) =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param><value>${p}</value></param>`).join('')}</params></methodCall>`;
const faultOf = (xml: string) => {
  const code = /<name>faultCode<\/name><value><int>(\d+)<\/int>/.exec(xml)?.[1];
  const str = /<name>faultString<\/name><value><string>(?:<!\[CDATA\[)?([\s\S]*?)(?:\]\]>)?<\/string>/.exec(xml)?.[1];
  return code ? { code: Number(code), str } : null;
};

test('unix socket is mode 0600 and answers; faults carry Xen codes', async (t) => {
  const s = await startServer();
  try {
    t.is((await stat(s.sock)).mode & 0o777, 0o600);
    const ok = await post({ socketPath: s.sock }, call('xend.domains', '<boolean>0</boolean>'));
    t.is(ok.status, 200);
    t.regex(ok.body, /<string>Domain-0<\/string>|CDATA\[Domain-0\]/);
    t.deepEqual(faultOf((await post({ socketPath: s.sock }, call('xend.domain.pause', '<string>nosuch</string>'))).body), { code: 3, str: 'nosuch' });
    t.deepEqual(faultOf((await post({ port: s.port }, call('xend.domain.pause', '<int>0</int>'))).body), { code: 2, str: 'Cannot pause privileged domain 0' });
    t.deepEqual(faultOf((await post({ port: s.port }, call('boom'))).body), { code: 1, str: 'TypeError: kaput' });
    t.deepEqual(faultOf((await post({ port: s.port }, call('xend.nosuch'))).body), { code: 1, str: FAULT_TEXT.unknownMethod('xend.nosuch') });
  } finally {
    await s.stop();
  }
});

test('bad requests get faults or 4xx, and the server keeps serving', async (t) => {
  const s = await startServer({ maxBodyBytes: 4096, bodyTimeoutMs: 300 });
  const tcp = { port: s.port };
  try {
    const expectFault = async (body: string | Buffer, re: RegExp, headers = {}) => {
      const r = await post(tcp, body, headers);
      t.is(r.status, 200);
      const f = faultOf(r.body);
      t.truthy(f, r.body);
      t.regex(f!.str ?? '', re);
    };
    await expectFault('<methodCall><methodName>echo', /^Invalid XML-RPC request/);
    await expectFault('not xml at all', /^Invalid XML-RPC request/);
    await expectFault(call('echo', '<string>a\x01b</string>'), /control character U\+0001/);
    await expectFault(call('echo', '<string>a&#1;b</string>'), /control character U\+0001/);
    await expectFault(call('echo', '<int>12x</int>'), /Expected an integer/);
    await expectFault(call('echo'), /^echo\(\) takes exactly 1 argument \(0 given\)$/);
    await expectFault(call('xend.domains', '<int>1</int>', '<int>2</int>'), /^xend\.domains\(\) takes at most 1 argument \(2 given\)$/);
    await expectFault(call('xend.domains', '<string>yes</string>'), /argument 1 \(detail\) must be boolean, not string/);
    await expectFault(call('xend.domain.pause', '<array><data></data></array>'), /must be a domain name or id, not array/);
    await expectFault(call('echo', '<string>' + 'x'.repeat(5000) + '</string>'), /larger than 4096 bytes/);
    await expectFault(call('echo', '<array><data>'.repeat(80) + '</data></array>'.repeat(80)), /nested deeper/);
    // chunked body over the limit (no Content-Length)
    await expectFault(Buffer.alloc(10000, 'a'), /larger than 4096 bytes/, { 'Transfer-Encoding': 'chunked' });
    // a result XML cannot carry is a fault, not a crash; top-level strings use xend's repr quirk
    await expectFault(call('badresult'), /^badresult: result string contains control character U\+0001/);
    await expectFault(call('echo', '<double>1.5abc</double>'), /Expected a double/);
    const dm = await post(tcp, call('xend.node.dmesg.info'));
    t.true(dm.body.includes(`(XEN) it\\'s "here"\\n\\tdone\\x01`), dm.body);
    // not XML-RPC: plain HTTP errors
    t.is((await post(tcp, '', {}, 'GET')).status, 405);
    t.is((await post(tcp, call('echo', '<int>1</int>'), {}, 'POST', '/elsewhere')).status, 404);
    // slowloris: headers promise a body that never comes
    const slow = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(s.port, '127.0.0.1', () => {
        sock.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<methodCall>');
      });
      let got = '';
      sock.on('data', (d) => (got += d));
      sock.on('close', () => resolve(got));
      sock.on('error', reject);
    });
    t.regex(slow, /body not received within 300 ms/);
    // still serving
    const ok = await post(tcp, call('echo', '<int>42</int>'));
    t.regex(ok.body, /<int>42<\/int>/);
  } finally {
    await s.stop();
  }
});

const PY_CLIENT = String.raw`
import sys, socket, http.client, xmlrpc.client
class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost')
        self.path_ = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path_)
class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path):
        super().__init__()
        self.path_ = path
    def make_connection(self, host):
        return UnixConn(self.path_)
mode, where = sys.argv[1], sys.argv[2]
if mode == 'tcp':
    s = xmlrpc.client.ServerProxy('http://127.0.0.1:%s/' % where, allow_none=True)
else:
    s = xmlrpc.client.ServerProxy('http://localhost/', transport=UnixTransport(where), allow_none=True)
print(s.xend.domains(True))
print(s.echo({'a': [1, 2.5, 'x', None, True]}))
print(s.big())
try:
    s.xend.domain.pause('nosuch')
except xmlrpc.client.Fault as f:
    print('fault', f.faultCode, f.faultString)
try:
    s.xend.nosuch(1)
except xmlrpc.client.Fault as f:
    print('fault', f.faultCode, f.faultString)
print(s.echo('after'))
`;

test('Python 3 xmlrpc.client works over TCP and over the unix socket', async (t) => {
  const s = await startServer();
  try {
    for (const [mode, where] of [['tcp', String(s.port)], ['unix', s.sock]] as const) {
      const { stdout } = await run('python3', ['-c', PY_CLIENT, mode, where]);
      t.deepEqual(stdout.trim().split('\n'), [
        "[['domain', ['domid', 0], ['name', 'Domain-0']]]",
        "{'a': [1, 2.5, 'x', None, True]}",
        "{'small': 7, 'large': '1099511627776', 'float': 1.5, 'neg': -3}",
        'fault 3 nosuch',
        'fault 1 method "xend.nosuch" is not supported',
        'after',
      ], mode);
    }
  } finally {
    await s.stop();
  }
});

test('fuzz: thousands of malformed requests, a good client keeps getting answers', async (t) => {
  const s = await startServer({ maxBodyBytes: 64 * 1024 });
  const tcp = { port: s.port };
  const good = call('echo', '<array><data><value><string>vm1</string></value><value><int>7</int></value><value><double>1.5</double></value><value><struct><member><name>k</name><value><boolean>1</boolean></value></member></struct></value></data></array>');
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = ['<', '>', '</', '&', '&#0;', '&#x1F;', '<value>', '</value>', '<int>', '<struct>', '<array>', '<data>', '<member>', '<name>', ']]>', '<![CDATA[', '\x00', '\x01', '\uFFFE', '\uD800', '<?xml', '<!DOCTYPE x [<!ENTITY a "b">]>', '&a;', '<methodName>', 'xend.domain.pause', '<i8>99999999999999999999</i8>', '<double>nan</double>', '<dateTime.iso8601>bogus</dateTime.iso8601>', '<base64>!!!</base64>', '<nil/>', '<boolean>2</boolean>'];
  const mutate = (src: string): string => {
    let x = src;
    const ops = 1 + rnd(4);
    for (let i = 0; i < ops; i++) {
      const at = rnd(x.length + 1);
      switch (rnd(4)) {
        case 0: x = x.slice(0, at) + pieces[rnd(pieces.length)] + x.slice(at); break;
        case 1: x = x.slice(0, at) + x.slice(at + 1 + rnd(20)); break;
        case 2: x = x.slice(0, at) + String.fromCharCode(rnd(0x80)) + x.slice(at); break;
        default: x = x.slice(0, at) + x.slice(rnd(x.length)); break;
      }
    }
    return x;
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const send = (body: string) => new Promise<number>((resolve, reject) => {
    const req = http.request({ ...tcp, host: '127.0.0.1', method: 'POST', path: '/', agent, headers: { 'Content-Type': 'text/xml' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
  let statuses = new Map<number, number>();
  try {
    for (let round = 0; round < 20; round++) {
      const batch = Array.from({ length: 150 }, () => send(mutate(good)));
      for (const st of await Promise.all(batch)) statuses.set(st, (statuses.get(st) ?? 0) + 1);
      const ok = await post(tcp, good);
      t.regex(ok.body, /<string>(?:<!\[CDATA\[)?vm1/);
    }
  } finally {
    agent.destroy();
    await s.stop();
  }
  // Every malformed request got an HTTP answer, all of them 200 (result or fault).
  t.deepEqual([...statuses.keys()], [200]);
  t.is(statuses.get(200), 3000);
});

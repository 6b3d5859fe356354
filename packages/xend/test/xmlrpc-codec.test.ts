// The direct XML-RPC reader and writer against the xmlrpc package's: what
// the fast reader accepts it must read exactly as the package does, and what
// the writer writes the package (and Python) must read back unchanged.
import test from 'ava';
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import Deserializer from 'xmlrpc/lib/deserializer.js';
import * as Serializer from 'xmlrpc/lib/serializer.js';
import { decodeMethodCall, decodeMethodResponse, encodeFault, encodeMethodCall, encodeMethodResponse } from '../src/xmlrpc-codec.js';
import { parseMethodCall } from '../src/xmlrpc-server.js';
import { prepareResult } from '../src/xmlrpc-values.js';

const run = promisify(execFile);

function slowCall(text: string): Promise<{ method: string; params: unknown[] }> {
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodCall(Readable.from([text]), (err, method, params) => (err ? reject(err) : resolve({ method: method!, params: params ?? [] })));
  });
}
function slowResponse(text: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodResponse(Readable.from([text]), (err, v) => (err ? reject(err) : resolve(v)));
  });
}
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x && x.type === 'Buffer' && Array.isArray(x.data) ? { buf: x.data } : x)));

const values: unknown[] = [
  'plain', '', ' spaced  ', 'a<b>&c', ']]> in text', 'tab\tnew\nline', 'héllo ☃ 𝄞', 0, -1, 2147483647, -2147483648,
  true, false, null, [], [[]], {}, { a: 1, 'we<ird': 'x&y' }, ['vm', ['name', 'g'], ['memory', 64], ['image', ['linux', ['kernel', '/k']]]],
  Buffer.from([0, 1, 2, 255]), { nested: [{ deep: [1, 'two', null, true] }] },
];

test('documents written by the codec read back the same through the xmlrpc package and the fast reader', async (t) => {
  for (const v of values) {
    const call = encodeMethodCall('m.x', [v, 7]);
    t.deepEqual(plain((await slowCall(call)).params), plain([v, 7]), `slow ${JSON.stringify(v)}`);
    t.deepEqual(plain(decodeMethodCall(call)!.params), plain([v, 7]), `fast ${JSON.stringify(v)}`);
    const resp = encodeMethodResponse(v);
    t.deepEqual(plain(await slowResponse(resp)), plain(v));
    t.deepEqual(plain((decodeMethodResponse(resp) as { value: unknown }).value), plain(v));
  }
  const f = decodeMethodResponse(encodeFault(3, "Domain 'x' <does not> exist"));
  t.deepEqual(f, { fault: { faultCode: 3, faultString: "Domain 'x' <does not> exist" } });
});

test('documents written by the xmlrpc package are read the same by the fast reader', async (t) => {
  for (const v of values) {
    const call = Serializer.serializeMethodCall('xend.domain.create', [v]);
    t.deepEqual(plain(decodeMethodCall(call)), plain(await slowCall(call)));
    const resp = Serializer.serializeMethodResponse(v);
    t.deepEqual(plain((decodeMethodResponse(resp) as { value: unknown }).value), plain(await slowResponse(resp)));
  }
  // Doubles and tagged values as xend sends them.
  const prepared = prepareResult({ f: 1.5, big: 2 ** 40, d: new Date(Date.UTC(2008, 0, 2, 3, 4, 5)) });
  const doc = encodeMethodResponse(prepared);
  t.is(decodeMethodResponse(doc), undefined, 'dateTime goes to the full parser');
  t.deepEqual(plain(await slowResponse(doc)), plain({ f: 1.5, big: String(2 ** 40), d: new Date(Date.UTC(2008, 0, 2, 3, 4, 5)) }));
});

test('unusual or malformed documents are left to the full parser, which gives the same result or its error', async (t) => {
  const cases = [
    '<?xml version="1.0"?><!-- c --><methodCall><methodName>a</methodName></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><int>12x</int></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><double>inf</double></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><string>x\r\ny</string></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><string a="1">x</string></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><foo>x</foo></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><string>&bogus;</string></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><string>x</string>',
    '<methodCall><methodName>a</methodName><params><param><value><string>x</value></string></param></params></methodCall>',
    '<METHODCALL><METHODNAME>a</METHODNAME></METHODCALL>',
    '<methodCall><methodName>a</methodName></methodCall> trailing',
  ];
  for (const c of cases) t.is(decodeMethodCall(c), undefined, c);
  // Whitespace-only and entity-laden values read as the package reads them.
  for (const c of [
    '<methodCall><methodName>a</methodName><params><param><value>  </value></param><param><value> <int> 5 </int> </value></param></params></methodCall>',
    '<methodCall>\n <methodName>a</methodName>\n <params><param><value><string>&lt;&#65;&#x42;&amp;&quot;&apos;<![CDATA[<raw>&]]></string></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><i8>12345678901</i8></value></param><param><value><nil/></value></param><param><value><base64>AAEC</base64></value></param></params></methodCall>',
  ]) {
    const fast = decodeMethodCall(c);
    t.truthy(fast, c);
    t.deepEqual(plain(fast), plain(await slowCall(c)));
    t.deepEqual(plain(await parseMethodCall(c)), plain(await slowCall(c)));
  }
  await t.throwsAsync(parseMethodCall(cases[1]!), { message: /Expected an integer but got '12x'/ });
});

test('Python reads what the codec writes', async (t) => {
  const doc = encodeMethodResponse(prepareResult([['domain', ['name', 'a<&>\r\nb'], ['cpu_time', 1.25]], 'x', true, null, { k: -5 }]));
  const py = `import sys, xmlrpc.client\nv, m = xmlrpc.client.loads(sys.stdin.read(), use_builtin_types=True)\nprint(repr(v[0]))`;
  const p = execFile('python3', ['-c', py]);
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stdin!.end(doc);
  await new Promise((r) => p.once('exit', r));
  t.is(out.trim(), "[['domain', ['name', 'a<&>\\r\\nb'], ['cpu_time', 1.25]], 'x', True, None, {'k': -5}]");
  void run;
});

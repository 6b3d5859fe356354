import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { XendInvalidDomain, XendXmlRpcServer, XmlRpcFault, XendError } from '@xenwasm/xend';
import { parseXendUri, XendClient, XendConnectionError, xendServerFromEnv } from '../src/index.js';

test('client over unix socket and TCP: results, string quirk, fault codes, connection errors', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xm-client-'));
  const srv = new XendXmlRpcServer({ log: () => {} });
  srv.register('xend.domains', () => [['domain', ['domid', 0], ['name', 'Domain-0'], ['cpu_time', 1.5]]], { varargs: true });
  srv.register('xend.node.log', () => "line 1\nit's\x07");
  srv.register('xend.domain.pause', (d: string) => { throw new XendInvalidDomain(d); }, { params: [{ name: 'dom', type: 'domain' }] });
  srv.register('xend.domain.destroy', () => { throw new XendError('Cannot destroy privileged domain 0'); }, { params: [{ name: 'dom', type: 'domain' }] });
  const sock = path.join(dir, 'run/xend/xmlrpc.sock');
  await srv.listenUnix(sock);
  const { port } = await srv.listenTcp(0);
  const unix = new XendClient({ socketPath: sock });
  const tcp = new XendClient(parseXendUri(`http://127.0.0.1:${port}/`));
  try {
    for (const c of [unix, tcp]) {
      t.deepEqual(await c.call('xend.domains', true, false), [['domain', ['domid', 0], ['name', 'Domain-0'], ['cpu_time', 1.5]]]);
      t.is(await c.call('xend.node.log'), "line 1\nit's\x07");
      const e = await t.throwsAsync(c.call('xend.domain.pause', 'ghost'), { instanceOf: XendInvalidDomain });
      t.is(e.message, "Domain 'ghost' does not exist.");
      const g = await t.throwsAsync(c.call('xend.domain.destroy', 0), { instanceOf: XmlRpcFault });
      t.is(g.faultCode, 2);
      t.is(g.message, 'Cannot destroy privileged domain 0');
      const u = await t.throwsAsync(c.call('xend.nope'), { instanceOf: XmlRpcFault });
      t.is(u.faultCode, 1);
    }
    const gone = new XendClient({ socketPath: path.join(dir, 'nothing.sock') });
    await t.throwsAsync(gone.call('xend.domains'), { instanceOf: XendConnectionError, message: /^Unable to connect to xend: .*Is xend running\?$/ });
    gone.close();
  } finally {
    unix.close();
    tcp.close();
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('server address from the environment', (t) => {
  t.deepEqual(xendServerFromEnv({ XEN_STATE_DIR: '/srv/xen' }), { socketPath: '/srv/xen/run/xend/xmlrpc.sock' });
  t.deepEqual(xendServerFromEnv({ XM_SERVER: 'httpu:///var/run/xend/xmlrpc.sock' }), { socketPath: '/var/run/xend/xmlrpc.sock' });
  t.deepEqual(xendServerFromEnv({ XM_SERVER: 'http://localhost:8006' }), { host: 'localhost', port: 8006, path: '/' });
});

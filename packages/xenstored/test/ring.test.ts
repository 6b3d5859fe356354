// Guest connections over a real shared page (SharedArrayBuffer) through the
// DomainRingProvider interface: the guest acts as its own domid, relative
// paths resolve under its home, permissions apply (05, 06, 09-11, 14), and
// RELEASE drops the connection and the nodes it owned.

import test from 'ava';
import { SharedMemoryRingProvider } from '../src/ring.js';
import { GuestRing, RawClient, outcome, startInProcess, T } from './helpers.js';

async function setup(domids: number[]) {
  const provider = new SharedMemoryRingProvider();
  const d = await startInProcess({ ringProvider: provider });
  const tools = await RawClient.connect(d.socketPath);
  const guests = new Map<number, GuestRing>();
  for (const domid of domids) {
    const g = new GuestRing(provider, domid, 1000 + domid, 10 + domid);
    await tools.req(T.WRITE, `/local/domain/${domid}\0`);
    await tools.req(T.SET_PERMS, `/local/domain/${domid}\0n${domid}\0`);
    const r = await tools.req(T.INTRODUCE, `${domid}\0${1000 + domid}\0${10 + domid}\0`);
    if (outcome(r) !== 'OK\0') throw new Error(`introduce ${domid}: ${outcome(r)}`);
    guests.set(domid, g);
  }
  return { d, tools, guests, provider };
}

test('a guest speaks the protocol over its ring, with relative paths under its home (09, 10)', async (t) => {
  const { d, tools, guests } = await setup([1]);
  const g = guests.get(1)!;
  t.is(outcome(await g.req(T.WRITE, 'data/x\0hello')), 'OK\0');
  t.is((await tools.req(T.READ, '/local/domain/1/data/x\0')).text, 'hello');
  t.is((await g.req(T.READ, '/local/domain/1/data/x\0')).text, 'hello');
  // the node belongs to the guest
  t.is((await tools.req(T.GET_PERMS, '/local/domain/1/data/x\0')).text, 'n1\0');
  // messages bigger than the 1024-byte ring go through in pieces
  const big = 'y'.repeat(1900); // under the 2048-byte entry quota, over the 1024-byte ring
  t.is(outcome(await g.req(T.WRITE, `big\0${big}`)), 'OK\0');
  t.is((await g.req(T.READ, 'big\0')).text, big);
  // relative watches report relative paths (10)
  t.is(outcome(await g.req(T.WATCH, 'data\0rel\0')), 'OK\0');
  t.deepEqual(await g.waitEvents(1), [{ path: 'data', token: 'rel' }]);
  await tools.req(T.WRITE, '/local/domain/1/data/y\0v');
  t.deepEqual((await g.waitEvents(2))[1], { path: 'data/y', token: 'rel' });
  t.is((await g.req(T.GET_DOMAIN_PATH, '1\0')).text, '/local/domain/1\0');
  tools.close();
  await d.close();
});

test('guests act with their own identity: EACCES hides existence (05, 06, 14)', async (t) => {
  const { d, tools, guests } = await setup([1, 2]);
  const g1 = guests.get(1)!;
  const g2 = guests.get(2)!;
  await g1.req(T.WRITE, 'secret/x\0s');
  // another domain can neither read nor list, nor tell a missing node from a hidden one
  for (const type of [T.READ, T.DIRECTORY, T.GET_PERMS, T.RM, T.MKDIR]) {
    t.is(outcome(await g2.req(type, '/local/domain/1/secret/x\0')), 'EACCES', `type ${type}`);
    t.is(outcome(await g2.req(type, '/local/domain/1/secret/nothere\0')), 'EACCES', `type ${type} missing`);
  }
  t.is(outcome(await g2.req(T.WRITE, '/local/domain/1/secret/x\0w')), 'EACCES');
  t.is(outcome(await g2.req(T.SET_PERMS, '/local/domain/1/secret/x\0b2\0')), 'EACCES');
  // root is n0: a guest cannot read it either
  t.is(outcome(await g2.req(T.READ, '/tool\0')), 'EACCES');
  // read access granted to domain 2
  t.is(outcome(await g1.req(T.SET_PERMS, 'secret/x\0n1\0r2\0')), 'OK\0');
  t.is((await g2.req(T.READ, '/local/domain/1/secret/x\0')).text, 's');
  t.is(outcome(await g2.req(T.WRITE, '/local/domain/1/secret/x\0w')), 'EACCES');
  // the owner may not give a node away (EPERM goes out as EINVAL)
  t.is(outcome(await g1.req(T.SET_PERMS, 'secret/x\0n2\0')), 'EINVAL');
  // dom0 always can
  t.is(outcome(await tools.req(T.SET_PERMS, '/local/domain/1/secret/x\0n2\0')), 'OK\0');
  t.is((await g2.req(T.READ, '/local/domain/1/secret/x\0')).text, 's');
  // guests cannot introduce, release or control
  t.is(outcome(await g1.req(T.INTRODUCE, '5\0' + '6\0' + '7\0')), 'EACCES');
  t.is(outcome(await g1.req(T.RELEASE, '2\0')), 'EACCES');
  t.is(outcome(await g1.req(T.CONTROL, 'check\0')), 'EACCES');
  // a domain's writes under a dom0-owned parent it may write: the domain owns the new nodes
  await tools.req(T.WRITE, '/shared\0');
  await tools.req(T.SET_PERMS, '/shared\0n0\0b1\0');
  t.is(outcome(await g1.req(T.WRITE, '/shared/a/b\0v')), 'OK\0');
  t.is((await tools.req(T.GET_PERMS, '/shared/a\0')).text, 'n1\0b1\0');
  t.is((await tools.req(T.GET_PERMS, '/shared/a/b\0')).text, 'n1\0b1\0');
  tools.close();
  await d.close();
});

test('set_target: a device-model domain gets its target\'s rights', async (t) => {
  const { d, tools, guests } = await setup([1, 2]);
  await guests.get(1)!.req(T.WRITE, 'dm\0x');
  t.is(outcome(await guests.get(2)!.req(T.READ, '/local/domain/1/dm\0')), 'EACCES');
  t.is(outcome(await tools.req(T.SET_TARGET, '2\0' + '1\0')), 'OK\0');
  t.is((await guests.get(2)!.req(T.READ, '/local/domain/1/dm\0')).text, 'x');
  tools.close();
  await d.close();
});

test('release drops the connection and the nodes the domain owned; @releaseDomain fires (11)', async (t) => {
  const { d, tools, guests } = await setup([3]);
  const g = guests.get(3)!;
  await g.req(T.WRITE, 'device/vbd/768/state\0' + '1');
  await tools.req(T.WRITE, '/vm/abc/name\0guest'); // dom0-owned: stays
  t.is(outcome(await g.req(T.WATCH, '/local/domain/3/device\0gw\0')), 'OK\0');
  await tools.req(T.WATCH, '@releaseDomain\0rel\0');
  await tools.req(T.WATCH, '/local/domain/3\0home\0');
  await tools.waitEvents(2);
  t.is(outcome(await tools.req(T.RELEASE, '3\0')), 'OK\0');
  const evs = await tools.waitEvents(4);
  t.true(evs.some((e) => e.path === '@releaseDomain'));
  t.true(evs.some((e) => e.token === 'home' && e.path === '/local/domain/3'));
  t.is(outcome(await tools.req(T.READ, '/local/domain/3/device/vbd/768/state\0')), 'ENOENT');
  t.is(outcome(await tools.req(T.READ, '/local/domain/3\0')), 'ENOENT');
  t.is((await tools.req(T.READ, '/vm/abc/name\0')).text, 'guest');
  t.is((await tools.req(T.IS_DOMAIN_INTRODUCED, '3\0')).text, 'F\0');
  t.is(d.stats().domains, 1); // dom0 only
  t.is(d.core.checkTree(), undefined);
  tools.close();
  await d.close();
});

test('domainDied (the host\'s VIRQ_DOM_EXC report) frees the domain like release', async (t) => {
  const { d, tools, guests } = await setup([4]);
  await guests.get(4)!.req(T.WRITE, 'x\0y');
  await tools.req(T.WATCH, '@releaseDomain\0rel\0');
  await tools.waitEvents(1);
  t.true(d.domainDied(4));
  await tools.waitEvents(2);
  t.is(outcome(await tools.req(T.READ, '/local/domain/4/x\0')), 'ENOENT');
  t.false(d.domainDied(4));
  tools.close();
  await d.close();
});

test('a guest writing garbage into its ring loses its connection, not the daemon', async (t) => {
  const { d, tools, guests, provider } = await setup([5]);
  const g = guests.get(5)!;
  t.is(outcome(await g.req(T.WRITE, 'ok\0fine')), 'OK\0');
  // corrupt the indexes: prod - cons > ring size
  const page = await provider.map(5, 1005);
  page.storeU32(2052, page.loadU32(2048) + 5000);
  provider.guestPort(5, 15).notify();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.is(d.stats().connections, 1); // only the tools socket remains
  t.is((await tools.req(T.READ, '/local/domain/5/ok\0')).text, 'fine');
  tools.close();
  await d.close();
});

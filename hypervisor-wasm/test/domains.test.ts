import test from 'ava';
import { HypercallError } from '@xenwasm/xen-errno';
import { XenCore } from '../src/index.js';
import { bootCore, code, guest, uuid } from './_helpers.js';

test('boot creates Domain-0: privileged, running, dom0_mem accounted', (t) => {
  const { core } = bootCore({ totalPages: 65536, dom0Pages: 16384 });
  const d0 = core.getDomainInfo(0);
  t.is(d0.domid, 0);
  t.true(d0.running);
  t.false(d0.paused);
  t.is(d0.totPages, 16384);
  t.is(d0.nrOnlineVcpus, 1);
  const pi = core.physinfo();
  t.deepEqual([pi.nrCpus, pi.totalPages, pi.freePages], [2, 65536, 65536 - 16384]);
});

test('boot refuses a dom0_mem larger than the host', (t) => {
  const e = t.throws(() => XenCore.boot({ nrCpus: 1, totalPages: 100, dom0Pages: 200 }, { setPending: () => false, kick: () => {} }));
  t.is((e as HypercallError).code, 'EINVAL');
});

test('createdomain: rover allocation, explicit ids, EEXIST, EINVAL; new domains start paused', (t) => {
  const { core } = bootCore();
  const a = core.createDomain(uuid(1), {});
  const b = core.createDomain(uuid(2), { hvm: true, ssidref: 5 });
  t.deepEqual([a, b], [1, 2]);
  core.destroyDomain(a);
  // Xen's rover: the next id after the last one handed out, not the lowest free one.
  t.is(core.createDomain(uuid(3), {}), 3);
  t.is(core.createDomain(uuid(4), { domid: 1 }), 1);
  t.is(code(() => core.createDomain(uuid(5), { domid: 2 })), 'EEXIST');
  t.is(code(() => core.createDomain(uuid(5), { domid: 0x7ff0 })), 'EINVAL');
  t.is(code(() => core.createDomain(new Uint8Array(3), {})), 'EINVAL');
  const info = core.getDomainInfo(b);
  t.true(info.paused);
  t.true(info.hvm);
  t.is(info.ssidref, 5);
  t.deepEqual([...info.handle], [...uuid(2)]);
  t.is(info.maxPages, 0);
  t.is(core.schedCreditGet(b).weight, 256);
});

test('createdomain runs out of domids with ENOMEM', (t) => {
  const { core } = bootCore({ maxDomains: 4 });
  for (let i = 0; i < 3; i++) core.createDomain(uuid(i), {});
  t.is(code(() => core.createDomain(uuid(9), {})), 'ENOMEM');
});

test('listDomains walks up from first; getDomainInfo ESRCH', (t) => {
  const { core } = bootCore();
  for (let i = 0; i < 5; i++) core.createDomain(uuid(i), {});
  t.deepEqual(core.listDomains(0, 100).map((d) => d.domid), [0, 1, 2, 3, 4, 5]);
  t.deepEqual(core.listDomains(2, 2).map((d) => d.domid), [2, 3]);
  t.deepEqual(core.listDomains(6, 10), []);
  t.is(code(() => core.getDomainInfo(40)), 'ESRCH');
  t.is(code(() => core.getDomainInfo(-1)), 'ESRCH');
});

test('pause counts: unpause at 0 is EINVAL; dom0 cannot be paused or destroyed', (t) => {
  const { core } = bootCore();
  const d = core.createDomain(uuid(1), {});
  core.pauseDomain(d);
  core.unpauseDomain(d);
  t.true(core.getDomainInfo(d).paused);
  core.unpauseDomain(d);
  t.false(core.getDomainInfo(d).paused);
  t.is(code(() => core.unpauseDomain(d)), 'EINVAL');
  t.is(code(() => core.pauseDomain(0)), 'EINVAL');
  t.is(code(() => core.destroyDomain(0)), 'EINVAL');
  t.is(code(() => core.pauseDomain(33)), 'ESRCH');
});

test('max_vcpus: vcpu0 online, others offline; cannot shrink; limit', (t) => {
  const { core } = bootCore({ maxVcpus: 4 });
  const d = core.createDomain(uuid(1), {});
  core.setMaxVcpus(d, 3);
  t.true(core.vcpuInfo(d, 0).online);
  t.false(core.vcpuInfo(d, 2).online);
  const info = core.getDomainInfo(d);
  t.is(info.nrOnlineVcpus, 1);
  t.is(info.maxVcpuId, 2);
  t.is(code(() => core.setMaxVcpus(d, 2)), 'EINVAL');
  t.is(code(() => core.setMaxVcpus(d, 5)), 'EINVAL');
  core.setMaxVcpus(d, 4);
  core.vcpuUp(d, 3);
  t.is(core.getDomainInfo(d).nrOnlineVcpus, 2);
  core.vcpuDown(d, 3);
  t.is(core.getDomainInfo(d).nrOnlineVcpus, 1);
  t.is(code(() => core.vcpuInfo(d, 4)), 'EINVAL');
  t.is(code(() => core.vcpuUp(d, 4)), 'EINVAL');
  const e = core.createDomain(uuid(2), {});
  core.setMaxVcpus(e, 1);
  t.is(code(() => core.vcpuInfo(e, 2)), 'ESRCH');
});

test('shutdown: reason kept, crash reported as crashed (libxc), vCPUs told DEAD', (t) => {
  const { core } = bootCore();
  const a = guest(core, { unpause: true });
  t.is(core.vcpuCheck(a, 0), 0);
  core.shutdownDomain(a, 1);
  core.shutdownDomain(a, 3); // the first reason stands
  const ia = core.getDomainInfo(a);
  t.true(ia.shutdown);
  t.false(ia.crashed);
  t.is(ia.shutdownReason, 1);
  t.is(core.vcpuCheck(a, 0), 2);
  t.false(core.vcpuInfo(a, 0).running);
  const b = guest(core, { unpause: true });
  core.shutdownDomain(b, 3);
  const ib = core.getDomainInfo(b);
  t.true(ib.crashed);
  t.false(ib.shutdown);
  t.is(ib.shutdownReason, 3);
});

test('destroy: dying then gone; vCPU check says DEAD; setHandle and setMaxMem', (t) => {
  const { core } = bootCore();
  const d = guest(core, { unpause: true });
  core.setHandle(d, uuid(99));
  t.deepEqual([...core.getDomainInfo(d).handle], [...uuid(99)]);
  core.setMaxMem(d, 1024 * 1024);
  t.is(core.getDomainInfo(d).maxPages, 262144);
  core.destroyDomain(d);
  t.is(core.vcpuCheck(d, 0), 2);
  t.is(code(() => core.getDomainInfo(d)), 'ESRCH');
  t.is(code(() => core.destroyDomain(d)), 'ESRCH');
});

test('getDomainInfo flags: blocked when every online vCPU blocks, running while one holds a pCPU', (t) => {
  const { core } = bootCore();
  const d = guest(core, { vcpus: 2, unpause: true });
  let i = core.getDomainInfo(d);
  t.true(i.running);
  t.false(i.blocked);
  core.vcpuBlock(d, 0);
  i = core.getDomainInfo(d);
  t.true(i.blocked);
  t.false(i.running);
  core.vcpuWake(d, 0);
  t.true(core.getDomainInfo(d).running);
});

test('a hook that calls back into the core gets EDEADLK instead of a hang', (t) => {
  let core!: XenCore;
  let seen: unknown;
  core = XenCore.boot({ nrCpus: 1, totalPages: 1024, dom0Pages: 0, maxDomains: 8 }, {
    setPending: () => false,
    kick: () => { try { core.physinfo(); } catch (e) { seen = e; } },
  });
  const d = core.createDomain(uuid(1), {});
  core.setMaxVcpus(d, 1);
  core.unpauseDomain(d);
  t.is((seen as { code?: string })?.code, 'EDEADLK');
  t.is(core.physinfo().nrCpus, 1); // and the core still works
});

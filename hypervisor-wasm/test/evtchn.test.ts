import test from 'ava';
import { bootCore, code, guest } from './_helpers.js';

const SELF = 0x7ff0;

test('alloc_unbound + bind_interdomain + send reaches the peer; status both ends', (t) => {
  const { core, rec } = bootCore();
  const a = guest(core, { unpause: true });
  const b = guest(core, { unpause: true });
  const pa = core.evtchnAllocUnbound(a, SELF, b);
  t.is(pa, 1); // port 0 is reserved
  t.deepEqual(core.evtchnStatus(a, a, pa), { status: 1, vcpu: 0, remoteDom: b });
  const pb = core.evtchnBindInterdomain(b, a, pa);
  t.deepEqual(core.evtchnStatus(b, SELF, pb), { status: 2, vcpu: 0, remoteDom: a, remotePort: pa });
  t.deepEqual(core.evtchnStatus(a, a, pa), { status: 2, vcpu: 0, remoteDom: b, remotePort: pb });
  rec.pending.length = 0;
  core.evtchnSend(a, pa);
  t.deepEqual(rec.pending, [[b, pb, 0]]);
  core.evtchnSend(b, pb);
  t.deepEqual(rec.pending[1], [a, pa, 0]);
});

test('bind_interdomain checks: wrong remote domain, not unbound, bad port', (t) => {
  const { core } = bootCore();
  const a = guest(core);
  const b = guest(core);
  const c = guest(core);
  const pa = core.evtchnAllocUnbound(a, a, b);
  t.is(code(() => core.evtchnBindInterdomain(c, a, pa)), 'EINVAL');
  t.is(code(() => core.evtchnBindInterdomain(b, a, 999)), 'EINVAL');
  t.is(code(() => core.evtchnBindInterdomain(b, 50, pa)), 'ESRCH');
  core.evtchnBindInterdomain(b, a, pa);
  t.is(code(() => core.evtchnBindInterdomain(b, a, pa)), 'EINVAL');
});

test('only a privileged caller names another domain in alloc_unbound (EPERM); dom0 does it for xend', (t) => {
  const { core } = bootCore();
  const a = guest(core);
  const b = guest(core);
  t.is(code(() => core.evtchnAllocUnbound(a, b, 0)), 'EPERM');
  t.is(code(() => core.evtchnStatus(a, b, 1)), 'EPERM');
  const store = core.evtchnAllocUnbound(0, a, 0);
  const cons = core.evtchnAllocUnbound(0, a, 0);
  t.deepEqual([store, cons], [1, 2]);
  t.deepEqual(core.evtchnStatus(0, a, cons), { status: 1, vcpu: 0, remoteDom: 0 });
});

test('closing an interdomain port makes the peer unbound again (rebindable)', (t) => {
  const { core, rec } = bootCore();
  const a = guest(core);
  const b = guest(core);
  const pa = core.evtchnAllocUnbound(a, a, b);
  const pb = core.evtchnBindInterdomain(b, a, pa);
  core.evtchnClose(b, pb);
  t.deepEqual(core.evtchnStatus(a, a, pa), { status: 1, vcpu: 0, remoteDom: b });
  t.is(core.evtchnStatus(b, b, pb).status, 0);
  rec.pending.length = 0;
  core.evtchnSend(a, pa); // unbound: silently dropped
  t.deepEqual(rec.pending, []);
  t.is(code(() => core.evtchnSend(b, pb)), 'EINVAL');
  t.is(code(() => core.evtchnClose(b, pb)), 'EINVAL');
  t.is(core.evtchnBindInterdomain(b, a, pa), pb); // lowest free port again
});

test('bind_virq: global VIRQs only on vCPU 0, EEXIST twice, ENOENT bad vCPU; close frees the slot', (t) => {
  const { core, rec } = bootCore();
  const d = guest(core, { vcpus: 2 });
  t.is(code(() => core.evtchnBindVirq(d, 3, 1)), 'EINVAL');
  t.is(code(() => core.evtchnBindVirq(d, 24, 0)), 'EINVAL');
  t.is(code(() => core.evtchnBindVirq(d, 0, 5)), 'ENOENT');
  const timer1 = core.evtchnBindVirq(d, 0, 1);
  t.deepEqual(core.evtchnStatus(d, d, timer1), { status: 4, vcpu: 1, virq: 0 });
  t.is(code(() => core.evtchnBindVirq(d, 0, 1)), 'EEXIST');
  rec.pending.length = 0;
  core.raiseVirq(d, 0, 1);
  t.deepEqual(rec.pending, [[d, timer1, 1]]);
  core.evtchnClose(d, timer1);
  t.is(core.evtchnBindVirq(d, 0, 1), timer1);
  t.is(code(() => core.evtchnSend(d, timer1)), 'EINVAL');
});

test('VIRQ_DOM_EXC reaches dom0 on shutdown, on destroy and on final release', (t) => {
  const { core, rec } = bootCore();
  const port = core.evtchnBindVirq(0, 3, 0);
  const d = guest(core, { unpause: true });
  rec.pending.length = 0;
  core.shutdownDomain(d, 0);
  t.deepEqual(rec.pending, [[0, port, 0]]);
  rec.pending.length = 0;
  core.destroyDomain(d);
  t.deepEqual(rec.pending, [[0, port, 0], [0, port, 0]]); // dying, then released
});

test('bind_ipi and send to self; bind_vcpu moves notifications; EINVAL for per-vCPU VIRQs', (t) => {
  const { core, rec } = bootCore();
  const d = guest(core, { vcpus: 2 });
  const ipi = core.evtchnBindIpi(d, 1);
  rec.pending.length = 0;
  core.evtchnSend(d, ipi);
  t.deepEqual(rec.pending, [[d, ipi, 1]]);
  t.is(code(() => core.evtchnBindVcpu(d, ipi, 0)), 'EINVAL');
  const u = core.evtchnAllocUnbound(d, d, 0);
  core.evtchnBindVcpu(d, u, 1);
  t.is(core.evtchnStatus(d, d, u).vcpu, 1);
  const timer = core.evtchnBindVirq(d, 0, 0);
  t.is(code(() => core.evtchnBindVcpu(d, timer, 1)), 'EINVAL');
  t.is(code(() => core.evtchnBindVcpu(d, u, 7)), 'ENOENT');
  t.is(code(() => core.evtchnBindIpi(d, 9)), 'ENOENT');
});

test('a send wakes a blocked vCPU when setPending says an upcall is due', (t) => {
  const { core, rec } = bootCore();
  const a = guest(core, { unpause: true });
  const b = guest(core, { unpause: true });
  const pa = core.evtchnAllocUnbound(a, a, b);
  const pb = core.evtchnBindInterdomain(b, a, pa);
  core.vcpuBlock(b, 0);
  t.true(core.vcpuInfo(b, 0).blocked);
  rec.upcall = false; // already pending or masked: no wake
  core.evtchnSend(a, pa);
  t.true(core.vcpuInfo(b, 0).blocked);
  rec.upcall = true;
  rec.kicks.length = 0;
  core.evtchnSend(a, pa);
  const vi = core.vcpuInfo(b, 0);
  t.false(vi.blocked);
  t.true(vi.running);
  t.deepEqual(rec.kicks[0]?.slice(0, 2), [b, 0]);
  void pb;
});

test('unmask goes through the unmask hook and wakes on an upcall', (t) => {
  const { core, rec } = bootCore();
  const d = guest(core, { unpause: true });
  const p = core.evtchnAllocUnbound(d, d, 0);
  core.vcpuBlock(d, 0);
  core.evtchnUnmask(d, p);
  t.deepEqual(rec.unmasks, [[d, p, 0]]);
  t.false(core.vcpuInfo(d, 0).blocked);
  t.is(code(() => core.evtchnUnmask(d, 5000)), 'EINVAL');
});

test('1024 ports per guest: ENOSPC after 1023; reset closes them all', (t) => {
  const { core } = bootCore();
  const d = guest(core);
  for (let i = 1; i < 1024; i++) t.is(core.evtchnAllocUnbound(d, d, 0), i);
  t.is(code(() => core.evtchnAllocUnbound(d, d, 0)), 'ENOSPC');
  core.evtchnReset(d);
  t.is(core.evtchnStatus(d, d, 700).status, 0);
  t.is(core.evtchnAllocUnbound(d, d, 0), 1);
  t.is(code(() => core.evtchnStatus(d, d, 1024)), 'EINVAL');
});

test('destroying a domain unbinds its peers', (t) => {
  const { core } = bootCore();
  const back = core.evtchnAllocUnbound(0, 0, SELF);
  t.is(back, 1);
  const g = guest(core);
  const p0 = core.evtchnAllocUnbound(0, 0, g);
  const pg = core.evtchnBindInterdomain(g, 0, p0);
  t.is(core.evtchnStatus(0, 0, p0).status, 2);
  core.destroyDomain(g);
  t.deepEqual(core.evtchnStatus(0, 0, p0), { status: 1, vcpu: 0, remoteDom: g });
  void pg;
});

// Issue 2's "done when", through libxc against a real `xen` process.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import { HypercallError } from '@xenwasm/xen-errno';
import { encodeFrame, FrameReader } from '@xenwasm/libxc';
import { buildGuest, guest, startXen, waitConsole, waitDomain, type Host } from './harness.js';

let host: Host;
test.before(async () => {
  host = await startXen();
});
test.after.always(async () => {
  if (host) await host.stop();
});

test.serial('Domain-0 exists at boot with dom0_mem, and the console has a banner', async (t) => {
  const [d0] = await host.xc.domainGetInfo(0, 1);
  t.is(d0!.domid, 0);
  t.is(d0!.mem_kb, 256 * 1024);
  const p = await host.xc.physinfo();
  t.is(p.nr_cpus, 2);
  t.is(p.total_pages, 2048 * 256);
  t.true(p.free_pages <= p.total_pages - 256 * 256);
  t.regex(await host.xc.readConsoleRing(), /Xen/);
});

test.serial('hello prints its cmdline on the console and powers off', async (t) => {
  const { domid } = await buildGuest(host.xc, guest('hello'), 'greeting=hi from=the-test');
  await host.xc.domainUnpause(domid);
  const d = await waitDomain(host.xc, domid, (i) => i.shutdown || i.crashed);
  t.false(d.crashed);
  t.is(d.shutdown_reason, 0);
  const text = await host.xc.readConsoleRing();
  t.regex(text, new RegExp(`\\(d${domid}\\) .*greeting=hi from=the-test`));
  await host.xc.domainDestroy(domid);
});

test.serial('SCHEDOP_block re-enables event delivery: an event that came while upcalls were masked ends the block', async (t) => {
  const { domid } = await buildGuest(host.xc, guest('masked-block'));
  await host.xc.domainUnpause(domid);
  const d = await waitDomain(host.xc, domid, (i) => i.shutdown || i.crashed);
  t.false(d.crashed);
  t.regex(await host.xc.readConsoleRing(), new RegExp(`\\(d${domid}\\) masked-block: woken, mask 0, timer upcalls 1`));
  await host.xc.domainDestroy(domid);
});

test.serial('a trapping guest shows as crashed', async (t) => {
  const { domid } = await buildGuest(host.xc, guest('crash'));
  await host.xc.domainUnpause(domid);
  const d = await waitDomain(host.xc, domid, (i) => i.shutdown || i.crashed);
  t.true(d.crashed);
  t.is(d.shutdown_reason, 3);
  await host.xc.domainDestroy(domid);
});

test.serial('pause stops a spinning burn guest: its CPU time stops growing', async (t) => {
  const { domid } = await buildGuest(host.xc, guest('burn'));
  await host.xc.domainUnpause(domid);
  // Wait until it has really run.
  let info = await host.xc.vcpuGetInfo(domid, 0);
  while (info.cpu_time < 20_000_000n) info = await host.xc.vcpuGetInfo(domid, 0);
  await host.xc.domainPause(domid);
  const stopped = (await host.xc.vcpuGetInfo(domid, 0)).cpu_time;
  // Some of the host's own round trips later, nothing more was charged.
  for (let i = 0; i < 50; i++) await host.xc.physinfo();
  const later = (await host.xc.vcpuGetInfo(domid, 0)).cpu_time;
  t.is(later, stopped);
  t.true((await host.xc.domainInfo(domid)).paused);
  await host.xc.domainUnpause(domid);
  info = await host.xc.vcpuGetInfo(domid, 0);
  while (info.cpu_time <= stopped) info = await host.xc.vcpuGetInfo(domid, 0);
  t.true(info.cpu_time > stopped);
  await host.xc.domainDestroy(domid);
});

test.serial('destroy returns the domain\'s memory to the pool', async (t) => {
  const before = (await host.xc.physinfo()).free_pages;
  const { domid } = await buildGuest(host.xc, guest('idle'), '', 16);
  await host.xc.domainUnpause(domid);
  const during = (await host.xc.physinfo()).free_pages;
  t.is(before - during, 16 * 256);
  await host.xc.domainDestroy(domid);
  t.is((await host.xc.physinfo()).free_pages, before);
  await t.throwsAsync(host.xc.domainInfo(domid), { code: 'ESRCH' });
});

test.serial('a guest growing past its memory gets ENOMEM; the host is unaffected', async (t) => {
  const before = (await host.xc.physinfo()).free_pages;
  const { domid } = await buildGuest(host.xc, guest('mem-hog'), '', 4, 8);
  await host.xc.domainUnpause(domid);
  const d = await waitDomain(host.xc, domid, (i) => i.shutdown || i.crashed);
  t.false(d.crashed);
  t.is(d.maxmem_kb, 8 * 1024);
  t.true(d.mem_kb <= 8 * 1024);
  t.regex(await host.xc.readConsoleRing(), new RegExp(`\\(d${domid}\\) .*mem-hog`));
  await host.xc.domainDestroy(domid);
  t.is((await host.xc.physinfo()).free_pages, before);
  // The host still builds and runs guests.
  const again = await buildGuest(host.xc, guest('hello'), 'after-hog');
  await host.xc.domainUnpause(again.domid);
  await waitDomain(host.xc, again.domid, (i) => i.shutdown);
  await host.xc.domainDestroy(again.domid);
});

test.serial('destroyed domains give their memory back: 60 guests filling 64 MiB each, one after another', async (t) => {
  const rssMib = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${host.proc.pid}/status`, 'utf8'))![1]) >> 10;
  const before = rssMib();
  for (let i = 0; i < 60; i++) {
    const { domid } = await buildGuest(host.xc, guest('mem-hog'), 'fill', 4, 64);
    await host.xc.domainUnpause(domid);
    const d = await waitDomain(host.xc, domid, (x) => x.shutdown || x.crashed);
    t.false(d.crashed);
    await host.xc.domainDestroy(domid);
  }
  // 3.7 GiB were filled in all; kept, they would all still be resident.
  const grown = rssMib() - before;
  t.log(`xen RSS grew by ${grown} MiB`);
  t.true(grown < 1536, `the xen process grew by ${grown} MiB`);
});

test.serial('a guest allocating 16 times its memory in garbage runs on: its heap is collected, live strings survive a block', async (t) => {
  const { domid } = await buildGuest(host.xc, guest('churn'), 'mib=64', 4);
  await host.xc.domainUnpause(domid);
  const d = await waitDomain(host.xc, domid, (i) => i.shutdown || i.crashed);
  const ring = await host.xc.readConsoleRing();
  t.false(d.crashed, ring.slice(-500));
  t.regex(ring, new RegExp(`\\(d${domid}\\) churn: ok \\d+ MiB`));
  await host.xc.domainDestroy(domid);
});

test.serial('VIRQ_TIMER comes no earlier than Xen allows (50 us of slop), and sleep_ns returns', async (t) => {
  const { domid } = await buildGuest(host.xc, guest('timer-test'), 'us=2000 count=50');
  await host.xc.domainUnpause(domid);
  const d = await waitDomain(host.xc, domid, (i) => i.shutdown || i.crashed);
  const ring = await host.xc.readConsoleRing();
  t.false(d.crashed, ring.slice(-500));
  t.regex(ring, new RegExp(`\\(d${domid}\\) timer-test: 50 timers of 2000 us, 0 early, .*; 50 sleeps done`));
  await host.xc.domainDestroy(domid);
});

test.serial('a guest bigger than one wasm32 memory is refused with ENOMEM, the op named once', async (t) => {
  const domid = await host.xc.domainCreate({ handle: crypto.randomUUID() });
  try {
    const [sp, cp] = await Promise.all([host.xc.evtchnAllocUnbound(domid, 0), host.xc.evtchnAllocUnbound(domid, 0)]);
    const e = await t.throwsAsync(host.xc.linuxBuild({ domid, kernel: guest('hello'), memoryMb: 8, maxMemoryMb: 100000, storeEvtchn: sp, consoleEvtchn: cp }));
    t.is((e as HypercallError).code, 'ENOMEM');
    t.is(e!.message, 'linux_build: a guest addresses at most 4096 MiB (one wasm32 memory), not 100000 MiB: ENOMEM');
  } finally {
    await host.xc.domainDestroy(domid);
  }
});

test.serial('a grant is refused to the wrong domain and to writes when read-only', async (t) => {
  // Granted to domain 4000 (not dom0): dom0 may not map it.
  const other = await buildGuest(host.xc, guest('grant-offer'), 'domid=4000');
  await host.xc.domainUnpause(other.domid);
  const t1 = await waitConsole(host.xc, new RegExp(`\\(d${other.domid}\\) gref=(\\d+)`));
  const gref1 = Number(new RegExp(`\\(d${other.domid}\\) gref=(\\d+)`).exec(t1)![1]);
  const e1 = await t.throwsAsync(host.xc.gnttabMap(other.domid, gref1, true));
  t.true(e1 instanceof HypercallError);
  t.is((e1 as HypercallError).code, 'EPERM');

  // Granted read-only to dom0: a read mapping works and sees the page, a write mapping is refused.
  const ro = await buildGuest(host.xc, guest('grant-offer'), 'domid=0 ro=1');
  await host.xc.domainUnpause(ro.domid);
  const t2 = await waitConsole(host.xc, new RegExp(`\\(d${ro.domid}\\) gref=(\\d+)`));
  const gref2 = Number(new RegExp(`\\(d${ro.domid}\\) gref=(\\d+)`).exec(t2)![1]);
  await t.throwsAsync(host.xc.gnttabMap(ro.domid, gref2, false), { code: 'EPERM' });
  const h = await host.xc.gnttabMap(ro.domid, gref2, true);
  const page = await host.xc.gnttabRead(h);
  t.is(page.length, 4096);
  t.not(page.readUInt32LE(0), 0);
  await t.throwsAsync(host.xc.gnttabWrite(h, 0, Buffer.from([1])), { code: 'EPERM' });
  await host.xc.gnttabUnmap(h);
  await host.xc.domainDestroy(other.domid);
  await host.xc.domainDestroy(ro.domid);
});

test.serial('two guests exchange events over an interdomain channel', async (t) => {
  // The toolstack creates both domains, then offers the client an unbound port of the server's.
  const client = await host.xc.domainCreate({ handle: crypto.randomUUID() });
  const server = await host.xc.domainCreate({ handle: crypto.randomUUID() });
  const port = await host.xc.evtchnAllocUnbound(server, client);
  const build = async (domid: number, cmdline: string) => {
    await host.xc.domainMaxVcpus(domid, 1);
    const sp = await host.xc.evtchnAllocUnbound(domid, 0);
    const cp = await host.xc.evtchnAllocUnbound(domid, 0);
    await host.xc.linuxBuild({ domid, kernel: guest('evtchn-pingpong'), cmdline, memoryMb: 4, storeEvtchn: sp, consoleEvtchn: cp });
  };
  await build(server, `role=server port=${port}`);
  await build(client, `role=client remote_dom=${server} remote_port=${port} count=200`);
  await host.xc.domainUnpause(server);
  await host.xc.domainUnpause(client);
  const d = await waitDomain(host.xc, client, (i) => i.shutdown || i.crashed);
  t.false(d.crashed);
  t.regex(await host.xc.readConsoleRing(), new RegExp(`\\(d${client}\\) pingpong: n=200`));
  const st = await host.xc.evtchnStatus(server, port);
  t.is(st.status, 2); // interdomain
  await host.xc.domainDestroy(client);
  await host.xc.domainDestroy(server);
});

test.serial('guests destroyed while they boot leave every executor serving', async (t) => {
  const seen = (await host.xc.readConsoleRing()).length;
  for (let i = 0; i < 8; i++) {
    const { domid } = await buildGuest(host.xc, guest('idle'));
    await host.xc.domainUnpause(domid);
    await host.xc.domainDestroy(domid);
  }
  const { domid } = await buildGuest(host.xc, guest('hello'), 'after-destroys');
  await host.xc.domainUnpause(domid);
  const d = await waitDomain(host.xc, domid, (i) => i.shutdown || i.crashed);
  t.false(d.crashed);
  await host.xc.domainDestroy(domid);
  t.notRegex(host.stderr(), /executor (failed|exited)/);
  t.notRegex((await host.xc.readConsoleRing()).slice(seen), /crashed/);
});

test.serial('malformed privcmd requests get errors and the host keeps serving', async (t) => {
  const s = net.connect(host.sock);
  await new Promise((r) => s.once('connect', r));
  const reader = new FrameReader();
  const replies: unknown[] = [];
  s.on('data', (c) => replies.push(...reader.push(c)));
  const sent = [
    encodeFrame({ id: 1, op: 'no_such_op' }),
    encodeFrame({ id: 2, op: 'domain_pause', args: { domid: 'zero' } }),
    encodeFrame({ id: 3, op: 'domain_pause', args: { domid: 4001 } }),
    encodeFrame({ id: 4 }),
    encodeFrame([1, 2, 3]),
    encodeFrame({ id: 5, op: 'gnttab_read', args: { handle: 99 } }),
    Buffer.concat([Buffer.from([5, 0, 0, 0]), Buffer.from('{{{{{')]),
    encodeFrame({ id: 6, op: 'foreign_read', args: { domid: 1, pfn: -5 } }),
  ];
  for (const f of sent) s.write(f);
  while (replies.length < sent.length) await new Promise((r) => s.once('data', r));
  const byId = new Map((replies as { id: number; ok: boolean; errno: string }[]).map((r) => [r.id, r]));
  t.is(byId.get(1)!.errno, 'ENOSYS');
  t.is(byId.get(2)!.errno, 'EINVAL');
  t.is(byId.get(3)!.errno, 'ESRCH');
  t.is(byId.get(5)!.errno, 'EINVAL');
  t.true((replies as { ok: boolean }[]).every((r) => r.ok === false));
  // A frame announcing more than the limit closes that connection only.
  const closed = new Promise((r) => s.once('close', r));
  s.write(Buffer.from([0xff, 0xff, 0xff, 0x7f]));
  await closed;
  t.is((await host.xc.physinfo()).nr_cpus, 2);
});

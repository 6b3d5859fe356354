// PV device benchmarks on a full stack (xm create of benchmark guests),
// each beside a baseline measured in this run:
//   blk.seq_write.ratio / blk.seq_read.ratio  PV block MB/s / Node writing or reading the
//                                              same file directly (1 MiB requests, 32 in flight)
//   blk.randread_4k.iops                       PV 4 KiB random reads, ring full / Node, 32 in flight
//   net.guest_gbps                             guest -> guest over netfront/netback/bridge / TCP on loopback
//   net.ping_rtt_us.p50                        ICMP echo guest <-> guest / UDP echo on loopback in Node
//   evtchn.backend_rtt_us.p50                  a blkif request the backend answers at once / a
//                                              postMessage round trip to a worker thread
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { startTestStack, waitFileMatch, type TestStack } from '../src/index.js';

interface Result { id: string; value: number; unit: string; baseline: number | null; note: string }

const SEQ_BYTES = 64 << 20;
const RAND_OPS = 20000;
/** Segments per PV request for the sequential runs: 256 = 1 MiB through indirect segments. */
const SEQ_SEGS = Number(process.env.BENCH_SEQ_SEGS ?? 256);
/** Guest memory (MiB) for them: room for the I/O pages of every slot. */
const SEQ_MEM = SEQ_SEGS > 11 ? 24 : 8;

async function guestLine(s: TestStack, name: string, re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const text = await waitFileMatch(s.consoleLog(name), re, timeoutMs);
  return text.match(re)!;
}

async function blkGuest(s: TestStack, name: string, img: string, extra: string, memory = 8): Promise<RegExpMatchArray> {
  s.cfg(`${name}.cfg`, 'blk-bench', `name = "${name}"\nmemory = ${memory}\ndisk = ['file:${img},xvda,w']\nextra = "${extra}"`);
  const r = await s.xm('create', `${name}.cfg`);
  if (r.code !== 0) throw new Error(`xm create ${name}: ${r.err}`);
  return guestLine(s, name, /blk-bench: mode=\S+ (bytes=(\d+) ops=(\d+) errors=(\d+) ns=(\d+).*|ops=(\d+) p50_ns=(\d+))|cannot open.*/);
}

async function nodeSeq(file: string, write: boolean): Promise<number> {
  const fh = await fs.promises.open(file, write ? 'r+' : 'r');
  const chunk = 1 << 20;
  const buf = Buffer.alloc(chunk, 0x41);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const off = next;
      next += chunk;
      if (off >= SEQ_BYTES) return;
      if (write) await fh.write(buf, 0, chunk, off);
      else await fh.read(Buffer.allocUnsafe(chunk), 0, chunk, off);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const ms = performance.now() - t0;
  await fh.close();
  return SEQ_BYTES / 1e6 / (ms / 1000);
}

async function nodeRandRead(file: string): Promise<number> {
  const fh = await fs.promises.open(file, 'r');
  const blocks = SEQ_BYTES / 4096;
  let left = RAND_OPS;
  const t0 = performance.now();
  const worker = async () => {
    const b = Buffer.allocUnsafe(4096);
    while (left-- > 0) await fh.read(b, 0, 4096, Math.floor(Math.random() * blocks) * 4096);
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const ms = performance.now() - t0;
  await fh.close();
  return RAND_OPS / (ms / 1000);
}

async function nodeTcpGbps(bytes: number): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    let t0 = 0;
    const srv = net.createServer((c) => {
      c.on('data', (d) => {
        got += d.length;
        if (got >= bytes) {
          const s = (performance.now() - t0) / 1000;
          c.destroy();
          srv.close();
          resolve((bytes * 8) / 1e9 / s);
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      const c = net.connect(port, '127.0.0.1', () => {
        t0 = performance.now();
        const chunk = Buffer.alloc(64 << 10);
        let sent = 0;
        const pump = () => {
          while (sent < bytes) {
            sent += chunk.length;
            if (!c.write(chunk)) return void c.once('drain', pump);
          }
          c.end();
        };
        pump();
      });
      c.on('error', () => undefined);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function nodeUdpRttUs(n: number): Promise<number> {
  const a = dgram.createSocket('udp4');
  const b = dgram.createSocket('udp4');
  b.on('message', (m, r) => b.send(m, r.port, r.address));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
  const port = b.address().port;
  const rtts: number[] = [];
  const msg = Buffer.alloc(64);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      a.once('message', () => r());
      a.send(msg, port, '127.0.0.1');
    });
    rtts.push((performance.now() - t) * 1000);
  }
  a.close();
  b.close();
  return median(rtts);
}

async function workerRttUs(n: number): Promise<number> {
  const w = new Worker('import("node:worker_threads").then(({ parentPort }) => parentPort.on("message", (m) => parentPort.postMessage(m)));', { eval: true });
  const rtts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      w.once('message', () => r());
      w.postMessage(i);
    });
    rtts.push((performance.now() - t) * 1000);
  }
  await w.terminate();
  return median(rtts);
}

export default async function (): Promise<Result[]> {
  const s = await startTestStack(['--nr-cpus', '2', '--mem', '512', '--dom0-mem', '64']);
  const out: Result[] = [];
  try {
    const img = path.join(s.dir, 'bench.img');
    fs.writeFileSync(img, Buffer.alloc(SEQ_BYTES));

    // The first guest of a fresh host pays for its one-time rewrite and for V8 compiling it
    // and the backend (seconds of background compilation on a 2-core machine): run one, untimed.
    await blkGuest(s, 'bwarm', img, `mode=seqread segs=${SEQ_SEGS}`, SEQ_MEM);
    // Sequential write and read: Node first, then the guest, on the same file.
    const nodeW = await nodeSeq(img, true);
    const w = await blkGuest(s, 'bw', img, `mode=seqwrite segs=${SEQ_SEGS}`, SEQ_MEM);
    const pvW = Number(w[2]) / 1e6 / (Number(w[5]) / 1e9);
    const nodeR = await nodeSeq(img, false);
    const r = await blkGuest(s, 'br', img, `mode=seqread segs=${SEQ_SEGS}`, SEQ_MEM);
    const pvR = Number(r[2]) / 1e6 / (Number(r[5]) / 1e9);
    const shape = (m: RegExpMatchArray) => m[0].match(/request=(\d+) inflight=(\d+)/);
    const ws = shape(w);
    const req = `PV: ${ws ? Number(ws[1]) >> 10 : '?'} KiB blkif requests (indirect segments), ${ws?.[2] ?? '?'} in flight (the guest's 4096 grant entries bound it), persistent grants; Node: 1 MiB fs writes, 32 in flight; one untimed guest run first`;
    out.push({ id: 'blk.seq_write.ratio', value: pvW / nodeW, unit: 'ratio', baseline: 1, note: `${SEQ_BYTES >> 20} MiB: PV ${pvW.toFixed(0)} MB/s / Node ${nodeW.toFixed(0)} MB/s (${req}); target >= 0.5` });
    out.push({ id: 'blk.seq_read.ratio', value: pvR / nodeR, unit: 'ratio', baseline: 1, note: `${SEQ_BYTES >> 20} MiB: PV ${pvR.toFixed(0)} MB/s / Node ${nodeR.toFixed(0)} MB/s (same requests; page cache warm for both); target >= 0.5` });

    const nodeIops = await nodeRandRead(img);
    const rr = await blkGuest(s, 'brr', img, `mode=randread count=${RAND_OPS}`);
    const pvIops = Number(rr[3]) / (Number(rr[5]) / 1e9);
    out.push({ id: 'blk.randread_4k.iops', value: pvIops, unit: 'IOPS', baseline: nodeIops, note: `${RAND_OPS} random 4 KiB reads of a ${SEQ_BYTES >> 20} MiB file, 32 in flight; baseline: Node fs reads of the same file` });

    const nop = await blkGuest(s, 'bnop', img, 'mode=nop count=3000');
    const wrtt = await workerRttUs(3000);
    out.push({ id: 'evtchn.backend_rtt_us.p50', value: Number(nop[7]) / 1000, unit: 'us', baseline: wrtt, note: 'guest pushes a blkif request of an unknown op, notifies dom0 blkback, which answers EOPNOTSUPP and notifies back; 3000 one at a time; baseline: postMessage round trip to a Node worker thread' });

    // Network: a sink and a source on xenbr0.
    s.cfg('sink.cfg', 'net-bench', `name = "sink"\nmemory = 8\nvif = ['mac=00:16:3e:00:09:01']\nextra = "role=sink"`);
    await s.xm('create', 'sink.cfg');
    await guestLine(s, 'sink', /net-bench: sink ready/);
    const frames = 100000;
    s.cfg('source.cfg', 'net-bench', `name = "source"\nmemory = 8\nvif = ['mac=00:16:3e:00:09:02']\nextra = "role=source dst=00:16:3e:00:09:01 count=${frames} size=1514"`);
    await s.xm('create', 'source.cfg');
    const rx = await guestLine(s, 'sink', /net-bench: rx frames=(\d+) bytes=(\d+) ns=(\d+)/);
    const gbps = (Number(rx[2]) * 8) / Number(rx[3]);
    const tcp = await nodeTcpGbps(Number(rx[2]));
    out.push({ id: 'net.guest_gbps', value: gbps, unit: 'Gbit/s', baseline: tcp, note: `${frames} frames of 1514 bytes guest -> guest (netfront, netback, bridge), ${rx[1]} received; baseline: Node TCP over 127.0.0.1 in one process, same byte count` });

    s.cfg('pa.cfg', 'net-pair', `name = "pa"\nmemory = 8\nvif = ['mac=00:16:3e:00:09:11']\nextra = "ip=10.0.1.1"`);
    s.cfg('pb.cfg', 'net-pair', `name = "pb"\nmemory = 8\nvif = ['mac=00:16:3e:00:09:12']\nextra = "ip=10.0.1.2 peer=10.0.1.1 count=300 interval_ms=1"`);
    await s.xm('create', 'pa.cfg');
    await guestLine(s, 'pa', /up on/);
    await s.xm('create', 'pb.cfg');
    const text = await waitFileMatch(s.consoleLog('pb'), /packets transmitted/);
    const rtts = [...text.matchAll(/time=(\d+\.\d+) ms/g)].map((m) => Number(m[1]) * 1000);
    const udp = await nodeUdpRttUs(300);
    out.push({ id: 'net.ping_rtt_us.p50', value: median(rtts), unit: 'us', baseline: udp, note: `ICMP echo guest <-> guest, 56 data bytes, ${rtts.length} pings 1 ms apart; baseline: UDP echo over 127.0.0.1 between two sockets in one Node process` });
  } finally {
    await s.stop();
  }
  return out;
}

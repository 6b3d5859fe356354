// Bad input: random bytes, oversized headers, truncated messages, unknown
// types, invalid paths, a client that never reads. Meanwhile a good client
// keeps getting correct answers and nothing acknowledged is lost.

import test from 'ava';
import net from 'node:net';
import { encodeMessage } from '@xenwasm/xs/xs-wire';
import { RawClient, outcome, startInProcess, T } from './helpers.js';

// Deterministic PRNG so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 0x100000000;
  };
}

function malformed(r: () => number, i: number): Buffer {
  const pick = Math.floor(r() * 8);
  const rand = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
  const type = Math.floor(r() * 30);
  switch (pick) {
    case 0: // random payload, honest header
      return encodeMessage(type, i, 0, rand(Math.floor(r() * 64)));
    case 1: // bad paths
      return encodeMessage([T.READ, T.WRITE, T.MKDIR, T.RM, T.DIRECTORY, T.GET_PERMS][i % 6]!, i, 0,
        ['//x\0', '/a/\0', 'rel\0', '/a b\0', '/\u00e9\0', '/' + 'p'.repeat(4000) + '\0', '\0', ''][Math.floor(r() * 8)]!.slice(0, 4096));
    case 2: // unknown type
      return encodeMessage(100 + Math.floor(r() * 1000), i, 0, '/\0');
    case 3: // bogus transaction ids
      return encodeMessage(T.READ, i, 1 + Math.floor(r() * 1000), '/tool\0');
    case 4: // bad argument counts
      return encodeMessage([T.WATCH, T.UNWATCH, T.SET_PERMS, T.INTRODUCE, T.TRANSACTION_END, T.DIRECTORY_PART][i % 6]!, i, 0, rand(8));
    case 5: // set_perms with junk perm strings
      return encodeMessage(T.SET_PERMS, i, 0, `/fz\0${rand(4).toString('latin1')}\0`);
    case 6: // writes the fuzzer is allowed to do (never under /good)
      return encodeMessage(T.WRITE, i, 0, Buffer.concat([Buffer.from(`/fz/${i % 50}\0`), rand(16)]));
    default: // watches and unwatches with random tokens
      return encodeMessage(r() < 0.5 ? T.WATCH : T.UNWATCH, i, 0, `/fz\0t${Math.floor(r() * 5)}\0`);
  }
}

test('thousands of malformed messages on several connections; a good client is served throughout', async (t) => {
  const d = await startInProcess({ limits: { maxOutputBytes: 256 * 1024 } });
  const good = await RawClient.connect(d.socketPath);
  const r = rng(0xc0ffee);
  const fuzzers: Array<Promise<void>> = [];
  let sent = 0;
  for (let k = 0; k < 6; k++) {
    fuzzers.push((async () => {
      const c = await RawClient.connect(d.socketPath);
      const batch: Buffer[] = [];
      for (let i = 0; i < 1500; i++) batch.push(malformed(r, i));
      sent += batch.length;
      const all = Buffer.concat(batch);
      // split at random points: messages arrive in pieces and joined
      for (let off = 0; off < all.length;) {
        const n = 1 + Math.floor(r() * 700);
        c.write(all.subarray(off, off + n));
        off += n;
      }
      // a final request tells us this connection is done (it is still served)
      const last = await c.req(T.READ, '/tool\0', 0, 0xfffffff0);
      if (last.type === T.ERROR) throw new Error('fuzzed connection lost its final read');
      c.close();
    })());
  }
  // connections that must be dropped: oversized header, random bytes, truncated forever
  const dropped: Array<Promise<void>> = [];
  for (const raw of [
    Buffer.concat([Buffer.from([2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x01, 0x10, 0, 0])]), // len 4097
    Buffer.from(Array.from({ length: 4000 }, () => Math.floor(r() * 256))),
  ]) {
    const c = await RawClient.connect(d.socketPath);
    c.write(raw);
    dropped.push(c.closed);
  }
  const truncated = net.createConnection(d.socketPath);
  truncated.on('error', () => undefined);
  truncated.write(encodeMessage(T.WRITE, 1, 0, '/trunc\0never-finished').subarray(0, 20));

  // the good client: every write acknowledged is read back
  const acked: string[] = [];
  for (let i = 0; i < 300; i++) {
    const w = await good.req(T.WRITE, `/good/k${i}\0v${i}`);
    t.is(outcome(w), 'OK\0');
    acked.push(`/good/k${i}`);
    if (i % 25 === 0) t.is((await good.req(T.READ, `/good/k${i}\0`)).text, `v${i}`);
  }
  await Promise.all(fuzzers);
  await Promise.all(dropped);
  t.true(sent >= 9000);
  for (const [i, p] of acked.entries()) t.is((await good.req(T.READ, `${p}\0`)).text, `v${i}`);
  t.is(outcome(await good.req(T.READ, '/trunc\0')), 'ENOENT');
  t.is(d.core.checkTree(), undefined);
  t.true(d.stats().droppedConnections >= 2);
  truncated.destroy();
  good.close();
  await d.close();
});

test('a client that never reads its replies is dropped; others are unaffected', async (t) => {
  const d = await startInProcess({ limits: { maxOutputBytes: 64 * 1024 } });
  const good = await RawClient.connect(d.socketPath);
  await good.req(T.WRITE, '/blob\0' + 'x'.repeat(3000));
  const lazy = net.createConnection(d.socketPath);
  lazy.on('error', () => undefined);
  await new Promise((r) => lazy.once('connect', r));
  lazy.pause(); // never read
  const closed = new Promise((r) => lazy.on('close', r));
  const req = encodeMessage(T.READ, 1, 0, '/blob\0');
  const burst = Buffer.concat(Array.from({ length: 2000 }, () => req));
  lazy.write(burst);
  lazy.write(burst);
  await closed;
  t.true(d.stats().droppedConnections >= 1);
  t.is((await good.req(T.READ, '/blob\0')).text.length, 3000);
  good.close();
  await d.close();
});

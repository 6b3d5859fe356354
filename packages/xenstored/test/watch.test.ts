// The watch index against the rule it replaces: every watch whose path is
// the change's or above it fires, and for a recursive change those below it.
import test from 'ava';
import type { Connection } from '../src/connection.js';
import { isChild } from '../src/paths.js';
import { WatchTable } from '../src/watch.js';

const conn = (serial: number) => ({ serial, watches: [] }) as unknown as Connection;

/** What Xen's walk over every connection's every watch gives, in the same order. */
function walk(conns: Connection[], path: string, recursive: boolean): string[] {
  const out: string[] = [];
  for (const c of conns) {
    for (const w of c.watches) {
      if (isChild(path, w.path)) out.push(`${c.serial}:${w.token}:${path}`);
      else if (recursive && isChild(w.path, path)) out.push(`${c.serial}:${w.token}:${w.path}`);
    }
  }
  return out;
}

test('matches what the walk over every watch matches, in its order', (t) => {
  const table = new WatchTable();
  const conns = [conn(1), conn(2), conn(3)];
  const paths = ['/', '/a', '/a/b', '/a/b/c', '/a/bc', '/x', '@introduceDomain', '@releaseDomain', '/a/b/c/d/e'];
  // Set in an order that interleaves connections: delivery still goes by connection.
  let n = 0;
  for (const p of paths) for (const c of [conns[2]!, conns[0]!, conns[1]!]) if ((n++ % 3) !== 1) table.add(c, { path: p, token: `t${n}`, relative: false });
  const events = ['/', '/a', '/a/b', '/a/b/c', '/a/b/c/d', '/a/bc', '/ab', '/x/y', '@introduceDomain', '@releaseDomain', '/zzz'];
  for (const e of events) {
    for (const rec of [false, true]) {
      const got = table.matches(e, rec).map((m) => `${m.conn.serial}:${m.watch.token}:${m.path}`);
      t.deepEqual(got, walk(conns, e, rec), `${e} recursive=${rec}`);
    }
  }
});

test('removed watches and dropped connections fire no more', (t) => {
  const table = new WatchTable();
  const a = conn(1);
  const b = conn(2);
  table.add(a, { path: '/w', token: 'x', relative: false });
  table.add(a, { path: '/w', token: 'y', relative: false });
  table.add(b, { path: '/w/v', token: 'z', relative: false });
  t.is(table.size, 3);
  t.true(table.remove(a, '/w', 'x'));
  t.false(table.remove(a, '/w', 'x'));
  t.deepEqual(table.matches('/w/v', false).map((m) => m.watch.token), ['y', 'z']);
  table.removeAll(b);
  t.deepEqual(b.watches, []);
  t.deepEqual(table.matches('/w/v', false).map((m) => m.watch.token), ['y']);
  table.removeAll(a);
  t.is(table.size, 0);
  t.deepEqual(table.matches('/w', true), []);
});

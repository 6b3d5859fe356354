import test from 'ava';
import { MemoryRelease, RELEASE_BYTES, RELEASE_DOMAINS } from '../src/memory-release.js';

test('a collection after RELEASE_DOMAINS small domains, or sooner once RELEASE_BYTES were let go', (t) => {
  let runs = 0;
  const r = new MemoryRelease(() => runs++);
  for (let i = 1; i < RELEASE_DOMAINS; i++) r.released(1 << 20);
  t.is(runs, 0);
  r.released(1 << 20);
  t.is(runs, 1);
  // Counting starts again after each collection; big domains reach the byte limit first.
  r.released(RELEASE_BYTES - 1);
  t.is(runs, 1);
  r.released(1);
  t.is(runs, 2);
  t.is(r.collections, 2);
});

test('the real collector runs in this thread without --expose-gc on the command line', (t) => {
  const r = new MemoryRelease();
  t.notThrows(() => r.released(RELEASE_BYTES));
  t.is(r.collections, 1);
});

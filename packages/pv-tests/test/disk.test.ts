// PV block end to end: the disk-test guest writes every sector of its
// xvda through blkfront -> blkback, flushes, reads back and checks; the
// image file on the host is then checked byte for byte.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { checkDiskTestImage, startTestStack, waitFileMatch, type TestStack } from '../src/index.js';

let s: TestStack;
test.before(async () => {
  s = await startTestStack();
});
test.after.always(async () => {
  if (s) await s.stop();
});

test.serial('disk-test fills, flushes, reads back its xvda; the image holds every sector number', async (t) => {
  const img = path.join(s.dir, 'disk.img');
  fs.writeFileSync(img, Buffer.alloc(4 << 20, 0xa5));
  s.cfg('disk-test.cfg', 'disk-test', `name = "disk1"\nmemory = 8\ndisk = ['file:${img},xvda,w']`);
  const r = await s.xm('create', 'disk-test.cfg');
  t.is(r.code, 0, r.err);
  const log = await waitFileMatch(s.consoleLog('disk1'), /disk-test: (read back \d+ sectors: OK|.*(fail|MISMATCH|cannot).*)\n/);
  t.regex(log, /disk-test: xvda 8192 sectors \(4 MiB\)/);
  t.regex(log, /disk-test: flushed/);
  t.regex(log, /disk-test: read back 8192 sectors: OK/);
  t.is(checkDiskTestImage(img), -1);
});

test.serial('disk-test with 1 MiB requests (indirect segments) over persistent grants; the image holds every sector number', async (t) => {
  const img = path.join(s.dir, 'disk-ind.img');
  fs.writeFileSync(img, Buffer.alloc(4 << 20, 0xa5));
  s.cfg('disk-ind.cfg', 'disk-test', `name = "disk2"\nmemory = 24\ndisk = ['file:${img},xvda,w']\nextra = "segs=256"`);
  const r = await s.xm('create', 'disk-ind.cfg');
  t.is(r.code, 0, r.err);
  const log = await waitFileMatch(s.consoleLog('disk2'), /disk-test: (read back \d+ sectors: OK|.*(fail|MISMATCH|cannot).*)\n/);
  t.regex(log, /disk-test: read back 8192 sectors: OK/);
  t.is(checkDiskTestImage(img), -1);
  // Both ends advertised the features the Xen way, and the backend used persistent grants.
  // (The guest has powered off by now: count the connections, one per disk-test.)
  t.is(s.stderr().match(/blkback: vbd-\d+-51712: persistent grants/g)?.length, 2);
});

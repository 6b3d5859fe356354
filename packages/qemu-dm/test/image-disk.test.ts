// The ext4 image's page cache (ImageDisk in vfs.ts): what libext2fs writes
// during one device-model request reaches the image file when the request
// ends (commit), reads see the latest writes, and the image keeps its size.
// Then whole files through Ext4Backend, checked with the e2fsprogs tools.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ext4Backend, ImageDisk, O, toErrno } from '../src/vfs.js';
import { E } from '../src/wasi-abi.js';

const haveTool = (t: string) => ['/usr/sbin', '/sbin', '/usr/bin'].some((d) => fs.existsSync(path.join(d, t)));
const HAVE_E2FS = haveTool('mkfs.ext4') && haveTool('debugfs') && haveTool('e2fsck');

let dir: string;
test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-disk-'));
});
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

test('writes are held until commit, then on the image; reads see them first', async (t) => {
  const img = path.join(dir, 'raw.img');
  // 10 KiB + 512: the last page is partial, as an image's can be.
  const size = 10 * 1024 + 512;
  fs.writeFileSync(img, pattern(size, 1));
  const fd = fs.openSync(img, 'r+');
  try {
    const disk = new ImageDisk(fd, false);
    const a = pattern(1024, 7);
    await disk.write(a, 0, 1024, 3072); // inside page 0
    const b = pattern(6000, 9);
    await disk.write(b, 0, 6000, 4000); // across pages 0, 1, 2
    const got = Buffer.alloc(size);
    await disk.read(got, 0, size, 0);
    const want = pattern(size, 1);
    a.copy(want, 3072);
    b.copy(want, 4000);
    t.deepEqual(got, want, 'reads see the writes not yet committed');
    t.deepEqual(fs.readFileSync(img), pattern(size, 1), 'nothing written before commit');
    disk.commit();
    t.deepEqual(fs.readFileSync(img), want, 'on the image after commit');
    // A write to the partial last page does not grow the image to a page boundary.
    const c = pattern(100, 3);
    await disk.write(c, 0, 100, size - 100);
    disk.commit();
    c.copy(want, size - 100);
    t.is(fs.fstatSync(fd).size, size);
    t.deepEqual(fs.readFileSync(img), want);
    // Past the end: zeros, as a sparse read.
    const past = Buffer.alloc(512, 0xee);
    await disk.read(past, 0, 512, size);
    t.deepEqual(past, Buffer.alloc(512));
  } finally {
    fs.closeSync(fd);
  }
});

test('a read-only image is never written: libext2fs\'s own updates (access times) stay in the cache', async (t) => {
  const img = path.join(dir, 'ro.img');
  fs.writeFileSync(img, pattern(8192, 2));
  const fd = fs.openSync(img, 'r');
  try {
    const disk = new ImageDisk(fd, true);
    await disk.write(Buffer.from('bookkeeping'), 0, 11, 100);
    const got = Buffer.alloc(11);
    await disk.read(got, 0, 11, 100);
    t.is(got.toString(), 'bookkeeping');
    disk.commit();
    await disk.flush();
    t.deepEqual(fs.readFileSync(img), pattern(8192, 2));
  } finally {
    fs.closeSync(fd);
  }
});

for (const bs of [1024, 4096]) {
  test(`ext4 (${bs}-byte blocks): files written in 64 KiB requests are on the image after each request and after unmount`, async (t) => {
    if (!HAVE_E2FS) return t.pass('e2fsprogs not installed');
    const img = path.join(dir, `fs-${bs}.ext4`);
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', String(bs), img, '16M'], { stdio: 'ignore' });
    const sizeBefore = fs.statSync(img).size;
    const be = await Ext4Backend.mount(img, false, 1);
    const body = randomBytes(3 * 1024 * 1024 + 777); // no repeats: the tail below is found only where it was written
    try {
      const f = await be.open('big.bin', O.CREAT | O.TRUNC | O.WRONLY);
      for (let at = 0; at < body.length; at += 65536) await f.write(body.subarray(at, Math.min(at + 65536, body.length)), at);
      // The last request's data blocks are in the image file already: no flush was asked for.
      const tail = body.subarray(body.length - 777);
      t.true(fs.readFileSync(img).includes(tail), 'the last write is on the image before any sync');
      await f.close();
      const g = await be.open('big.bin', O.RDONLY);
      const back = Buffer.alloc(body.length);
      for (let at = 0; at < body.length; at += 65536) await g.read(back.subarray(at, Math.min(at + 65536, body.length)), at);
      await g.close();
      t.true(back.equals(body), 'read back as written'); // (deepEqual on MiBs is slow)
      await be.mkdir('d');
      await be.rename('big.bin', 'd/moved.bin');
    } finally {
      await be.close();
    }
    t.is(fs.statSync(img).size, sizeBefore);
    execFileSync('e2fsck', ['-fn', img], { stdio: 'ignore' }); // throws on any inconsistency
    const out = path.join(dir, `dump-${bs}.bin`);
    execFileSync('debugfs', ['-R', `dump /d/moved.bin ${out}`, img], { stdio: 'ignore' });
    t.true(fs.readFileSync(out).equals(body), 'debugfs dumps what was written');
  });
}

test('ext4: names that exist are EEXIST for link, mkdir and symlink, and the image stays sound', async (t) => {
  if (!HAVE_E2FS) return t.pass('e2fsprogs not installed');
  const img = path.join(dir, 'names.ext4');
  execFileSync('mkfs.ext4', ['-q', '-F', img, '8M'], { stdio: 'ignore' });
  const be = await Ext4Backend.mount(img, false, 1);
  try {
    await be.mkdir('d');
    for (const n of ['one', 'two']) await (await be.open(`d/${n}`, O.CREAT | O.WRONLY)).close();
    const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => toErrno(e));
    t.is(await code(be.link('d/one', 'd/two')), E.EXIST);
    t.is(await code(be.mkdir('d')), E.EXIST);
    t.is(await code(be.symlink('one', 'd/two')), E.EXIST);
    t.deepEqual((await be.readdir('d')).sort(), ['one', 'two']);
  } finally {
    await be.close();
  }
  // e2fsck -n exits 0 only for a clean file system.
  t.notThrows(() => execFileSync('e2fsck', ['-fn', img], { stdio: 'ignore' }));
});

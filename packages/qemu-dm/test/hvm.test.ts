// HVM guests end to end: unmodified WASI programs (guests/hvmtest.c) started
// with `xm create` on the stack `npm start` runs, in both device-model modes
// (a qemu-dm process per domain, and a stub domain in the hypervisor host).
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { XendClient } from '@xenwasm/xm';
import { Xs } from '@xenwasm/xs';
import { childValue, type SxpValue } from '@xenwasm/sxp';
import { daemonMain, runXm, startStack, type Stack } from '@xenwasm/xencommons';

const run = promisify(execFile);
const XM = daemonMain('xm')!;
const here = path.dirname(fileURLToPath(import.meta.url));
const GUEST = path.resolve(here, '../../guests/hvmtest.wasm');

let stack: Stack;
let dir: string;
let stderr = '';

const haveTool = (t: string) => ['/usr/sbin', '/sbin', '/usr/bin'].some((d) => fs.existsSync(path.join(d, t)));
const HAVE_E2FS = haveTool('mkfs.ext4') && haveTool('debugfs');

const xm_ = (...args: string[]) => xm(...args);
const xm = (...args: string[]) => runXm(stack.stateDir, args, dir);

async function domain(name: string): Promise<SxpValue | undefined> {
  const c = new XendClient({ socketPath: path.join(stack.stateDir, 'run/xend/xmlrpc.sock') });
  try {
    const doms = await c.call<SxpValue[]>('xend.domains_with_state', true, 'all', 1);
    return doms.find((d) => childValue(d, 'name') === name);
  } finally {
    c.close();
  }
}

/** Waits (re-asking xend) until the domain has shut down or crashed; returns its state string. */
async function stopped(name: string): Promise<{ state: string; dom: SxpValue }> {
  for (let i = 0; i < 4000; i++) {
    const d = await domain(name);
    const st = d ? String(childValue(d, 'state') ?? '') : '';
    if (d && /[sc]/.test(st) && childValue(d, 'shutdown_reason') !== undefined) return { state: st, dom: d };
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`${name} never stopped`);
}

const consoleLog = (name: string) => {
  const p = path.join(stack.stateDir, 'log', 'console', `guest-${name}.log`);
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '';
};

function config(name: string, mode: string, lines: string[]): string {
  const p = path.join(dir, `${name}.cfg`);
  fs.writeFileSync(p, [
    `name = "${name}"`, `builder = 'hvm'`, `kernel = "${GUEST}"`, 'memory = 16',
    `on_poweroff = 'preserve'`, `on_crash = 'preserve'`,
    ...(mode === 'stubdom' ? ['device_model_stubdomain_override = 1'] : []),
    ...lines, '',
  ].join('\n'));
  return p;
}

async function createAndWait(name: string, mode: string, lines: string[]) {
  const r = await xm('create', config(name, mode, lines));
  if (r.code !== 0) throw new Error(`xm create ${name}: ${r.err}${r.out}`);
  return stopped(name);
}

test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvm-'));
  stack = await startStack({ stateDir: path.join(dir, 'var'), onStderr: (_n, c) => { stderr += c; } });
});
test.after.always(async () => {
  await stack?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function mkext4(name: string, files: Record<string, string>): string {
  const root = path.join(dir, `${name}-root`);
  for (const [f, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), body);
  }
  const img = path.join(dir, `${name}.ext4`);
  return root && img && (execFileSyncQuiet('mkfs.ext4', ['-q', '-F', '-d', root, img, '8M']), img);
}
function execFileSyncQuiet(cmd: string, args: string[]): string {
  return (require_('node:child_process') as typeof import('node:child_process')).execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}
import { createRequire } from 'node:module';
const require_ = createRequire(import.meta.url);
const debugfs = (img: string, cmd: string) => execFileSyncQuiet('debugfs', ['-R', cmd, img]);

function xmSpawn(...args: string[]): ChildProcess {
  return spawn(process.execPath, [XM, ...args], { env: { ...process.env, XEN_STATE_DIR: stack.stateDir, XM_SERVER: '' }, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Everything the stream has printed, once `re` matches it. */
function waitOutput(p: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (b: Buffer) => {
      text += b.toString();
      if (re.test(text)) {
        p.stdout!.off('data', onData);
        resolve(text);
      }
    };
    p.stdout!.on('data', onData);
    p.once('exit', (code) => { if (!re.test(text)) reject(new Error(`xm exited (${code}) before ${re}: ${JSON.stringify(text)}`)); });
  });
}

for (const mode of ['qemu-dm', 'stubdom']) {
  const tag = mode === 'stubdom' ? 'sd' : 'qd';

  test.serial(`${mode}: xm create -c: stdin from the console, end of input is EOF, returns at shutdown`, async (t) => {
    const name = `lines-${tag}`;
    const xm = xmSpawn('create', '-c', config(name, mode, [`args = ['lines']`]));
    const exited = once(xm, 'exit');
    await waitOutput(xm, /lines: ready\n/);
    xm.stdin!.write('one\n');
    await waitOutput(xm, /got 1: one\n/);
    xm.stdin!.write('two words\nthree\n');
    await waitOutput(xm, /got 3: three\n/);
    const tail = waitOutput(xm, /lines: eof after 3\n/);
    xm.stdin!.end();
    await tail;
    const [code] = await exited;
    t.is(code, 0);
    const { state } = await stopped(name);
    t.regex(state, /s/);
    t.regex((await xm_('list', '--long', name)).out, /\(exit_code 3\)/);
    t.is(consoleLog(name), 'lines: ready\ngot 1: one\ngot 2: two words\ngot 3: three\nlines: eof after 3\n');
    await xm_('destroy', name);
  });

  test.serial(`${mode}: xm console attaches with input, Ctrl-] detaches without EOF, a later attach ends the input`, async (t) => {
    const name = `cons-${tag}`;
    t.is((await xm_('create', config(name, mode, [`args = ['lines']`]))).code, 0);
    const a = xmSpawn('console', name);
    await waitOutput(a, /lines: ready\n/); // replayed
    a.stdin!.write('alpha\n');
    await waitOutput(a, /got 1: alpha\n/);
    a.stdin!.write(Buffer.from([0x1d]));
    t.is((await once(a, 'exit'))[0], 0);
    const d = await domain(name);
    t.regex(String(childValue(d!, 'state')), /^[-rb]+$/, 'still running after the detach');
    const b = xmSpawn('console', name);
    await waitOutput(b, /got 1: alpha\n/);
    const tail = waitOutput(b, /lines: eof after 2\n/);
    b.stdin!.end('beta\n');
    await tail;
    t.is((await once(b, 'exit'))[0], 0);
    await stopped(name);
    t.regex((await xm_('list', '--long', name)).out, /\(exit_code 2\)/);
    await xm_('destroy', name);
  });

  test.serial(`${mode}: hello world with args and env; exit 0 in xm list --long and xenstore`, async (t) => {
    const name = `hello-${tag}`;
    const { state } = await createAndWait(name, mode, [`args = ['hello', 'one two', 'x=y']`, `env = ['GREETING=hi there', 'N=1']`]);
    t.regex(state, /s/);
    t.is(consoleLog(name), [
      'hello from an unmodified WASI program', 'argv[0]=hvmtest.wasm', 'argv[1]=hello', 'argv[2]=one two', 'argv[3]=x=y',
      'env GREETING=hi there', 'env N=1', 'to stderr', '',
    ].join('\n'));
    const long = await xm('list', '--long', name);
    t.regex(long.out, /\(exit_code 0\)/);
    t.regex(long.out, /\(shutdown_reason poweroff\)/);
    const d = await domain(name);
    const xs = await Xs.connect({ path: path.join(stack.stateDir, 'run', 'xenstored', 'socket') });
    try {
      t.is(await xs.read(`/local/domain/${childValue(d!, 'domid')}/exit_code`), '0');
      t.is(await xs.read(`/local/domain/${childValue(d!, 'domid')}/device-model`), mode);
    } finally {
      await xs.close();
    }
    t.is((await xm('destroy', name)).code, 0);
  });

  test.serial(`${mode}: extra split like a shell; a non-zero exit code`, async (t) => {
    const name = `exit-${tag}`;
    await createAndWait(name, mode, [`extra = "exit '7'"`]);
    t.regex(consoleLog(name), /exiting with 7/);
    t.regex((await xm('list', '--long', name)).out, /\(exit_code 7\)/);
    await xm('destroy', name);
  });

  test.serial(`${mode}: a trap crashes the domain`, async (t) => {
    const name = `trap-${tag}`;
    const { state, dom } = await createAndWait(name, mode, [`args = ['trap']`]);
    t.regex(state, /c/);
    t.is(childValue(dom, 'shutdown_reason'), 'crash');
    t.regex(consoleLog(name), /about to trap/);
    t.notRegex((await xm('list', '--long', name)).out, /exit_code/);
    await xm('destroy', name);
  });

  test.serial(`${mode}: reads and writes files on an ext4 image`, async (t) => {
    if (!HAVE_E2FS) return t.pass('e2fsprogs missing: skipped');
    const name = `files-${tag}`;
    const img = mkext4(name, { 'data/in.txt': 'hello disk\n', 'data/keep.txt': 'keep\n' });
    await createAndWait(name, mode, [`disk = ['file:${img},hda,w']`, `args = ['files', '/data/in.txt', '/out.txt', '/data']`]);
    const out = consoleLog(name);
    t.regex(out, /wrote \/out.txt size=11 entries=3/);
    t.regex(out, /HELLO DISK/);
    await xm('destroy', name);
    t.is(debugfs(img, 'cat /out.txt'), 'HELLO DISK\n');
    t.is(debugfs(img, 'cat /data/made/final.txt'), 'renamed ok\n');
    t.regex(debugfs(img, 'ls /data'), /made/);
    t.notRegex(debugfs(img, 'ls /data'), /gone\.txt/);
  });

  test.serial(`${mode}: a second disk (hdb, read-only) at /mnt/hdb beside hda at /`, async (t) => {
    if (!HAVE_E2FS) return t.pass('e2fsprogs missing: skipped');
    const name = `hdb-${tag}`;
    const hda = mkext4(`${name}-a`, { 'data/keep.txt': 'keep\n' });
    const hdb = mkext4(`${name}-b`, { 'in.txt': 'from hdb\n' });
    const hdbBefore = fs.readFileSync(hdb);
    const disks = `disk = ['file:${hda},hda,w', 'file:${hdb},hdb,r']`;
    // Read from hdb, write to hda.
    await createAndWait(name, mode, [disks, `args = ['files', '/mnt/hdb/in.txt', '/out.txt', '/data']`]);
    t.regex(consoleLog(name), /wrote \/out.txt size=9 entries=2/);
    await xm('destroy', name);
    t.is(debugfs(hda, 'cat /out.txt'), 'FROM HDB\n');
    // Again: /data/made is there from the first run, and libext2fs's "directory exists" reaches the guest as EEXIST.
    const again = `${name}-again`;
    await createAndWait(again, mode, [disks, `args = ['files', '/mnt/hdb/in.txt', '/out2.txt', '/data']`]);
    t.regex(consoleLog(again), /mkdir: File exists/);
    await xm('destroy', again);
    // hdb is read-only: creating a file there fails with EROFS, and the image is byte for byte as it was.
    const ro = `${name}-ro`;
    await createAndWait(ro, mode, [disks, `args = ['files', '/data/keep.txt', '/mnt/hdb/out.txt', '/data']`]);
    t.regex(consoleLog(ro), /create \/mnt\/hdb\/out\.txt: Read-only file system/);
    t.regex((await xm('list', '--long', ro)).out, /\(exit_code 4\)/);
    await xm('destroy', ro);
    t.true(fs.readFileSync(hdb).equals(hdbBefore));
  });

  test.serial(`${mode}: a disk image that is not ext2/3/4 fails xm create with the reason`, async (t) => {
    const name = `notext-${tag}`;
    const img = path.join(dir, `${name}.img`);
    fs.writeFileSync(img, Buffer.alloc(1 << 20, 0x5a));
    const r = await xm('create', config(name, mode, [`disk = ['file:${img},hda,w']`]));
    t.is(r.code, 1);
    t.regex(r.err, new RegExp(`disk image ${img.replace(/[.]/g, '\\.')}: not an ext2/3/4 file system`));
    t.is((await xm('list', name)).code, 1);
  });

  test.serial(`${mode}: a p9 share; no way out of it`, async (t) => {
    const name = `p9-${tag}`;
    const share = path.join(dir, `share-${tag}`);
    const outside = path.join(dir, `outside-${tag}.txt`);
    fs.mkdirSync(share, { recursive: true });
    fs.writeFileSync(path.join(share, 'in.txt'), 'shared\n');
    fs.writeFileSync(outside, 'secret\n');
    fs.symlinkSync(outside, path.join(share, 'abs-link'));
    fs.symlinkSync(path.relative(share, outside), path.join(share, 'rel-link'));
    fs.linkSync(outside, path.join(share, 'hard-link'));
    fs.mkdirSync(path.join(share, 'sub'));
    fs.symlinkSync('../in.txt', path.join(share, 'sub', 'ok-link'));
    await createAndWait(name, mode, [
      `p9 = ['tag=host,path=${share},security_model=none,mount=/mnt/host']`,
      `args = ['escape', '/mnt/host/in.txt', '/mnt/host/sub/ok-link', '/mnt/host/abs-link', '/mnt/host/rel-link', '/mnt/host/hard-link', '/mnt/host/../../${path.basename(outside)}', '/mnt/host/sub/../../x', '${outside}', '/etc/passwd']`,
    ]);
    const out = consoleLog(name);
    t.regex(out, /\/mnt\/host\/in.txt: ok 7/);
    t.regex(out, /\/mnt\/host\/sub\/ok-link: ok 7/);
    t.regex(out, /\/mnt\/host\/abs-link: Capabilities insufficient/);
    t.regex(out, /\/mnt\/host\/rel-link: Capabilities insufficient/);
    t.regex(out, /\/mnt\/host\/hard-link: Operation not permitted/);
    t.notRegex(out, /\.\.\/.*: ok/);
    t.notRegex(out, new RegExp(`${outside}: ok`));
    // No root preopen: an absolute path outside every preopen is not capable.
    t.regex(out, /\/etc\/passwd: Capabilities insufficient/);
    t.notRegex(out, /secret/);
    // Writes land in the host directory.
    await xm('destroy', name);
    const name2 = `p9w-${tag}`;
    await createAndWait(name2, mode, [`p9 = ['tag=host,path=${share},security_model=none']`, `args = ['files', '/host/in.txt', '/host/up.txt', '/host']`]);
    t.is(fs.readFileSync(path.join(share, 'up.txt'), 'utf8'), 'SHARED\n');
    t.is(fs.readFileSync(path.join(share, 'made', 'final.txt'), 'utf8'), 'renamed ok\n');
    await xm('destroy', name2);
  });

  test.serial(`${mode}: behaviours the WASI testsuite checks: own hard links open, no read/write directory, no absolute symlink`, async (t) => {
    const name = `wfix-${tag}`;
    const share = path.join(dir, `wfix-${tag}`);
    fs.mkdirSync(share, { recursive: true });
    await createAndWait(name, mode, [`p9 = ['tag=w,path=${share},security_model=none']`, `args = ['wasifix', '/w']`]);
    const out = consoleLog(name);
    t.regex(out, /open own hard link: linked\n/);
    t.regex(out, /open dir read\/write: Is a directory\n/);
    t.regex(out, /symlink to \/: Capabilities insufficient\n/);
    t.false(fs.existsSync(path.join(share, 'abs-link')));
    t.is(fs.statSync(path.join(share, 'linked.txt')).nlink, 2);
    await xm('destroy', name);
  });

  test.serial(`${mode}: a WASI TCP echo server reached from the host`, async (t) => {
    const name = `echo-${tag}`;
    const port = await freePort();
    const r = await xm('create', config(name, mode, [`wasi_listen = ['127.0.0.1:${port}']`, `args = ['echo', '3']`]));
    t.is(r.code, 0, r.err);
    // The listener is open once the device model is up: xm create returned after that.
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (b) => {
        got += b.toString();
        if (got.length >= 11) s.end();
      });
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.write('ping pong\r\n');
    });
    t.is(reply, 'ping pong\r\n');
    await stopped(name);
    t.regex(consoleLog(name), /echo: done after 11 bytes/);
    await xm('destroy', name);
  });
}

test.serial('qemu-dm is a Domain-0 process per HVM domain; its death crashes the domain, not xend', async (t) => {
  const name = 'dmkill';
  const port = await freePort();
  const r = await xm('create', config(name, 'qemu-dm', [`wasi_listen = ['${port}']`, `args = ['echo']`]));
  t.is(r.code, 0, r.err);
  const d = await domain(name);
  const domid = childValue(d!, 'domid');
  const ps = await run('ps', ['-eo', 'pid,args']);
  const line = ps.stdout.split('\n').find((l) => l.includes('qemu-dm') && l.includes(`-d ${domid} `));
  t.truthy(line, 'qemu-dm shows in ps');
  process.kill(Number(line!.trim().split(/\s+/)[0]), 'SIGKILL');
  const { state } = await stopped(name);
  t.regex(state, /c/);
  t.truthy(await domain('Domain-0'), 'xend still answers');
  await xm('destroy', name);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

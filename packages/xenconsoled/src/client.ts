// The client end of the console socket (what `xm console` runs): attach to a
// domain, then pump stdin to the guest and the guest to stdout until Ctrl-]
// or the console goes away.
import net from 'node:net';
import { XenError } from '@xenwasm/xen-errno';
import { ESCAPE_CHAR, consoleSocketPath, type AttachReply, type AttachRequest } from './console-proto.js';

/** Connects and attaches; resolves with the socket positioned after the handshake (plus any bytes already read). */
export function attachConsole(domid: number, opts: { socketPath?: string; replay?: boolean } = {}): Promise<{ sock: net.Socket; first: Buffer }> {
  const p = opts.socketPath ?? consoleSocketPath();
  return new Promise((resolve, reject) => {
    const sock = net.connect(p);
    let head = Buffer.alloc(0);
    sock.once('error', (e) => reject(new XenError('ENOENT', `cannot reach xenconsoled at ${p}: ${e.message}`)));
    sock.once('connect', () => sock.write(JSON.stringify({ domid, replay: opts.replay } satisfies AttachRequest) + '\n'));
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) return;
      sock.off('data', onData);
      let r: AttachReply;
      try {
        r = JSON.parse(head.subarray(0, nl).toString('utf8')) as AttachReply;
      } catch {
        sock.destroy();
        return reject(new XenError('EIO', 'xenconsoled sent a bad reply'));
      }
      if (!r.ok) {
        sock.destroy();
        return reject(new XenError('ENODEV', r.error));
      }
      resolve({ sock, first: head.subarray(nl + 1) });
    };
    sock.on('data', onData);
  });
}

/**
 * Interactive session on the given streams: raw mode on a terminal, input to
 * the guest, output to `output`; Ctrl-] (0x1d) detaches. Resolves when detached
 * or when the console closes.
 */
export async function runConsole(domid: number, input: NodeJS.ReadStream, output: NodeJS.WritableStream, opts: { socketPath?: string; keepInput?: boolean } = {}): Promise<void> {
  const { sock, first } = await attachConsole(domid, opts);
  if (first.length) output.write(first);
  const raw = input.isTTY ? input.isRaw : undefined;
  if (input.isTTY) input.setRawMode(true);
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      input.off('data', onInput);
      input.pause();
      if (input.isTTY && raw !== undefined) input.setRawMode(raw);
      // A paused pipe still holds the event loop: let go of it, as xenconsole exits.
      if (!opts.keepInput) input.destroy();
      sock.end();
      resolve();
    };
    const onInput = (b: Buffer) => {
      const esc = b.indexOf(ESCAPE_CHAR);
      if (esc >= 0) {
        // The escape byte goes too: it tells the far end this is a detach, not the end of input.
        sock.write(b.subarray(0, esc + 1));
        finish();
        return;
      }
      sock.write(b);
    };
    input.on('data', onInput);
    // stdin ended: half-close, which an HVM guest reads as end of file (a PV
    // console ignores it); keep showing output until the console ends.
    input.on('end', () => { if (!done) sock.end(); });
    input.resume();
    sock.on('data', (d) => output.write(d));
    sock.on('close', finish);
    sock.on('error', finish);
  });
}

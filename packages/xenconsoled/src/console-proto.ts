// The console socket between xenconsoled and `xm console`: where it is, and
// the one-line handshake before the raw byte stream. In Xen, xenconsoled
// hands each guest a pty and the xenconsole client opens it; here the client
// connects to one unix socket and names the domain.
import type net from 'node:net';
import path from 'node:path';

/** $XEN_STATE_DIR/run/xenconsoled/console.sock */
export function consoleSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(path.resolve(env.XEN_STATE_DIR ?? 'var'), 'run', 'xenconsoled', 'console.sock');
}

/** Where a guest's console log goes: $XEN_STATE_DIR/log/console/guest-<name>.log */
export function consoleLogDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(path.resolve(env.XEN_STATE_DIR ?? 'var'), 'log', 'console');
}

/** The escape character of the xenconsole client: Ctrl-] detaches. */
export const ESCAPE_CHAR = 0x1d;

/** Client -> daemon, one JSON line: which domain to attach to. */
export interface AttachRequest {
  domid: number;
  /** Replay the output kept since the last attach (default true). */
  replay?: boolean;
}
/** Daemon -> client, one JSON line; after `ok` the socket carries the console bytes both ways. */
export type AttachReply = { ok: true } | { ok: false; error: string };

/** A request line longer than this is not a client of ours: the socket is dropped. */
const MAX_REQUEST_LINE = 4096;

/** Answers a client with a refusal and closes its end. */
export function refuseAttach(sock: net.Socket, error: string): void {
  sock.end(JSON.stringify({ ok: false, error } satisfies AttachReply) + '\n');
}

/**
 * The serving side of the handshake (xenconsoled, and the device model of
 * an HVM guest, which speaks it too): reads the request line, then hands
 * over the request, everything received so far (`head`, for a server that
 * relays the client on) and what followed the line (`rest`: console input
 * already typed). A line that is not JSON is refused.
 */
export function readAttachRequest(sock: net.Socket, onRequest: (req: AttachRequest, head: Buffer, rest: Buffer) => void): void {
  let head = Buffer.alloc(0);
  const onHead = (d: Buffer) => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) {
      if (head.length > MAX_REQUEST_LINE) sock.destroy();
      return;
    }
    sock.off('data', onHead);
    let req: AttachRequest;
    try {
      req = JSON.parse(head.subarray(0, nl).toString('utf8')) as AttachRequest;
    } catch {
      return refuseAttach(sock, 'bad request');
    }
    onRequest(req, head, head.subarray(nl + 1));
  };
  sock.on('data', onHead);
}

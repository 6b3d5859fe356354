// The console socket between xenconsoled and `xm console`: where it is, and
// the one-line handshake before the raw byte stream. In Xen, xenconsoled
// hands each guest a pty and the xenconsole client opens it; here the client
// connects to one unix socket and names the domain.
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

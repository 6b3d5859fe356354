// The receiving end of sd_notify, as systemd runs it: a unix datagram socket
// whose messages are parsed into KEY=VALUE maps. For tests and for
// supervisors that start our daemons with Type=notify semantics.

import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';

export type NotifyMessage = Record<string, string>;

export function parseNotify(text: string): NotifyMessage {
  const m: NotifyMessage = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) m[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return m;
}

export class NotifyListener {
  readonly messages: NotifyMessage[] = [];
  private waiters: Array<{ pred: (m: NotifyMessage) => boolean; resolve: (m: NotifyMessage) => void }> = [];
  private constructor(readonly path: string, private readonly sock: { close(): void }) {}

  /** Bind a datagram socket at `path` (a stale file there is replaced). */
  static open(path: string): NotifyListener {
    const require = createRequire(import.meta.url);
    const { DgramSocket } = require('node-unix-socket') as typeof import('node-unix-socket');
    const abstract = path.startsWith('\0');
    if (!abstract) rmSync(path, { force: true });
    const sock = new DgramSocket();
    const l = new NotifyListener(path, sock);
    sock.on('data', (buf: Buffer) => l.push(parseNotify(buf.toString('utf8'))));
    sock.bind(path);
    return l;
  }

  private push(m: NotifyMessage): void {
    this.messages.push(m);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(m)) return true;
      w.resolve(m);
      return false;
    });
  }

  /** The first message (already received or still to come) matching pred, counting from index `from`. */
  waitFor(pred: (m: NotifyMessage) => boolean, from = 0): Promise<NotifyMessage> {
    const seen = this.messages.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  close(): void {
    this.sock.close();
    if (!this.path.startsWith('\0')) rmSync(this.path, { force: true });
  }
}

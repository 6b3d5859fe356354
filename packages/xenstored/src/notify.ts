// systemd readiness: one datagram "READY=1" to $NOTIFY_SOCKET (a unix
// datagram socket, which node:net cannot send, hence node-unix-socket).

import { createRequire } from 'node:module';

export async function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  let target = env.NOTIFY_SOCKET;
  if (!target) return false;
  // A leading '@' names a socket in the abstract namespace.
  if (target.startsWith('@')) target = '\0' + target.slice(1);
  const require = createRequire(import.meta.url);
  const { DgramSocket } = require('node-unix-socket') as typeof import('node-unix-socket');
  const sock = new DgramSocket();
  const msg = Buffer.from(state);
  try {
    await new Promise<void>((resolve, reject) =>
      sock.sendTo(msg, 0, msg.length, target!, (err) => (err ? reject(err) : resolve())),
    );
    return true;
  } finally {
    sock.close();
  }
}

#!/usr/bin/env node
// qemu-dm: the device model of one HVM domain as a Domain-0 process.
//
//   qemu-dm -d DOMID --config FILE.json --socket PATH
//
// Listens on PATH (mode 0600) for the hypervisor host, which relays the
// guest's ioreq pages to it (docs in ../README.md); prints
// `qemu-dm: ready domid=N ports=...` on stderr once it accepts. Exits when
// the relay connection closes (the domain is gone) or on SIGTERM.
import fs from 'node:fs';
import net from 'node:net';
import { DeviceModel } from './device-model.js';
import { guestConsole } from './console-sink.js';
import { IoreqPage, IOREQ_BYTES, type IoResponse } from './ioreq.js';
import { readFrames, sendFrame } from './frame.js';
import type { DmConfig } from './config.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const cfgPath = arg('--config');
  const sockPath = arg('--socket');
  if (!cfgPath || !sockPath) {
    process.stderr.write('usage: qemu-dm -d DOMID --config FILE.json --socket PATH\n');
    process.exit(2);
  }
  const config = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as DmConfig;
  const con = await guestConsole(config);
  const dm = await DeviceModel.start(config, con);
  const local = new ArrayBuffer(IOREQ_BYTES);
  const page = new IoreqPage(local);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await dm.shutdown().catch(() => undefined);
    con.close();
    server.close();
    try { fs.unlinkSync(sockPath); } catch { /* gone */ }
    process.exit(code);
  };
  // Requests are answered one at a time, in order: at once when the device
  // model answers synchronously (files, console, clocks), else when its
  // promise settles; frames arriving meanwhile wait their turn.
  let busy = false;
  const waiting: Buffer[] = [];
  const server = net.createServer((sock) => {
    const answer = (resp: IoResponse) => {
      try {
        page.writeResponse(resp);
      } catch {
        page.writeResponse({ errno: 29 /* EIO */ });
      }
      if (!sock.destroyed) sendFrame(sock, page.u8.subarray(0, page.usedBytes('response')));
    };
    const serve = (frame: Uint8Array) => {
      page.u8.set(frame.subarray(0, Math.min(frame.length, IOREQ_BYTES)));
      let r: IoResponse | Promise<IoResponse>;
      try {
        r = dm.handle(page.readRequest());
      } catch {
        r = { errno: 29 };
      }
      if (!(r instanceof Promise)) return answer(r);
      busy = true;
      void r.catch(() => ({ errno: 29 })).then((resp) => {
        answer(resp);
        busy = false;
        while (!busy && waiting.length) serve(waiting.shift()!);
      });
    };
    readFrames(sock, (f) => {
      if (busy) waiting.push(Buffer.from(f)); // f is only lent: the next frame may reuse it
      else serve(f);
    });
    sock.on('close', () => void stop(0));
    sock.on('error', () => undefined);
  });
  try { fs.unlinkSync(sockPath); } catch { /* fresh */ }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });
  fs.chmodSync(sockPath, 0o600);
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.stderr.write(`qemu-dm: ready domid=${config.domid} ports=${dm.listenerPorts.join(',')}\n`);
}

main().catch((e) => {
  process.stderr.write(`qemu-dm: ${(e as Error).message}\n`);
  process.exit(1);
});

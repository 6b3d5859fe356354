// Where the guest's stdout and stderr go: appended byte for byte to the
// domain's console log (and to whoever listens, e.g. a test).
import fs from 'node:fs';
import path from 'node:path';
import type { ConsoleSink } from './device-model.js';

export function fileConsole(logPath: string | undefined, tee?: (b: Uint8Array) => void): ConsoleSink & { close(): void } {
  let fd: number | null = null;
  if (logPath) {
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    fd = fs.openSync(logPath, 'a', 0o600);
  }
  return {
    write(b) {
      if (fd !== null) fs.writeSync(fd, b);
      tee?.(b);
    },
    close() {
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    },
  };
}

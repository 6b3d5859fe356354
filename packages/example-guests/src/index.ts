// Where the built example guests are: build/<name>.wasm, compiled by
// `npm run build:wasm -w @xenwasm/example-guests` (run by the root build).
import { fileURLToPath } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const GUEST_NAMES = [
  'hello', 'idle', 'burn', 'crash', 'mem-hog', 'grant-offer', 'evtchn-pingpong', 'cpu-bench', 'console-echo', 'console-garble',
  'disk-test', 'net-pair', 'bad-ring', 'blk-bench', 'net-bench', 'masked-block', 'churn', 'timer-test',
] as const;
export type GuestName = (typeof GUEST_NAMES)[number];

// dist/src/index.js -> package root
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The package's build directory (absolute). */
export const GUEST_BUILD_DIR = path.join(root, 'build');

/** Absolute path of build/<name>.wasm; throws if it was not built. */
export function guestWasmPath(name: GuestName | string): string {
  const p = path.join(GUEST_BUILD_DIR, `${name}.wasm`);
  if (!existsSync(p)) {
    throw new Error(`example guest ${name} is not built (${p}): run npm run build:wasm -w @xenwasm/example-guests`);
  }
  return p;
}

/** The bytes of build/<name>.wasm (unrewritten: give them to the domain builder). */
export function readGuestWasm(name: GuestName | string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(guestWasmPath(name)));
}

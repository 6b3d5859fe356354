// Giving a destroyed domain's memory back to the host.
//
// A guest's memory is a shared WebAssembly.Memory that the main thread and
// every executor hold a handle to. Dropping the handles frees nothing by
// itself: the backing store goes only once every isolate that had a handle
// has collected it, and V8 sees no reason to collect: a handle is a small
// object, and the memory behind it is not counted as pressure on any heap.
// Left alone, destroyed domains piled up (about 80 KiB of RSS per 1 MiB idle
// guest, measured over 14000 create/destroy cycles) until the process ran
// out of memory mappings and every build failed with "WebAssembly.Memory():
// could not allocate memory" (after ~13000 domains on this host).
//
// So each thread counts what it let go and runs a full collection itself
// once enough has piled up. Executors collect synchronously (their loop
// never yields to an event loop where a scheduled collection could run);
// the main thread asks for one as a task, off the request in hand. The
// synchronous one is gc() without options: gc({ type: 'major', execution:
// 'sync' }) on this V8 (Node 20) ran without freeing the backing stores.

import v8 from 'node:v8';
import vm from 'node:vm';
import { isMainThread } from 'node:worker_threads';

/** Collect after this many domains were let go... */
export const RELEASE_DOMAINS = 64;
/** ...or this many bytes of their memory, whichever comes first. */
export const RELEASE_BYTES = 256 << 20;

type Collect = () => void;

let gcFn: ((opts?: { execution?: 'sync' | 'async' }) => unknown) | undefined;
/** A full collection of this isolate: the collector V8 exposes under --expose-gc, obtained without the flag on the command line. */
function collectNow(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as typeof gcFn;
  }
  if (isMainThread) gcFn!({ execution: 'async' });
  else gcFn!();
}

export class MemoryRelease {
  private domains = 0;
  private bytes = 0;
  /** Collections run so far (for tests and diagnostics). */
  collections = 0;
  constructor(private readonly collect: Collect = collectNow) {}

  /** A domain's memory of `bytes` has no more handles in this thread. */
  released(bytes: number): void {
    this.domains++;
    this.bytes += bytes;
    if (this.domains < RELEASE_DOMAINS && this.bytes < RELEASE_BYTES) return;
    this.domains = 0;
    this.bytes = 0;
    this.collections++;
    this.collect();
  }
}

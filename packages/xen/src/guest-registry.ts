// Every thread that may deliver an event or run a vCPU keeps its own table of
// domains: the shared memory of each (shared_info lives in it) and, for
// guests, the compiled module. The host posts each new domain to every
// executor on a dedicated port, which an executor can drain synchronously
// when it meets a domain it has not heard of yet: a guest may name a domain
// that was created a moment ago while its executor was busy running guest
// code.
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { HvmBoot } from './hvm-abi.js';
import { MemoryRelease } from './memory-release.js';

export interface DomainEntry {
  domid: number;
  memory: WebAssembly.Memory | null; // null for domains without guest memory
  shared: SharedArrayBuffer; // whose first pages include shared_info
  module: WebAssembly.Module | null;
  maxVcpus: number;
  /** HVM guests only (hvm-abi.ts). */
  hvm?: HvmBoot;
}

export type RegistryMessage =
  | { kind: 'add'; entry: DomainEntry }
  | { kind: 'remove'; domid: number };

export class GuestRegistry {
  private readonly domains = new Map<number, DomainEntry & { i32: Int32Array }>();
  private readonly removedHooks: ((domid: number) => void)[] = [];
  constructor(private readonly port: MessagePort | null = null, readonly release = new MemoryRelease()) {}

  add(entry: DomainEntry): void {
    this.domains.set(entry.domid, { ...entry, i32: new Int32Array(entry.shared) });
  }
  remove(domid: number): void {
    const d = this.domains.get(domid);
    this.domains.delete(domid);
    for (const h of this.removedHooks) h(domid);
    // Our handles on its memory are gone now (memory-release.ts says why that is not enough).
    if (d?.memory) this.release.released(d.memory.buffer.byteLength);
  }
  onRemove(h: (domid: number) => void): void {
    this.removedHooks.push(h);
  }
  apply(msg: RegistryMessage): void {
    if (msg.kind === 'add') this.add(msg.entry);
    else this.remove(msg.domid);
  }
  /** Pull every registry message already queued for this thread. */
  drain(): void {
    if (!this.port) return;
    for (;;) {
      const m = receiveMessageOnPort(this.port);
      if (!m) return;
      this.apply(m.message as RegistryMessage);
    }
  }
  all(): IterableIterator<DomainEntry> {
    return this.domains.values();
  }
  get(domid: number): (DomainEntry & { i32: Int32Array }) | undefined {
    let d = this.domains.get(domid);
    if (!d) {
      this.drain();
      d = this.domains.get(domid);
    }
    return d;
  }
  /** shared_info words of `domid`, or undefined if the domain is unknown. */
  words(domid: number): Int32Array | undefined {
    return this.get(domid)?.i32;
  }
}

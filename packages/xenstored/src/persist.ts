// The tree on disk, in LevelDB (one key per node). Durability by group
// commit: changes made while a synced batch is in flight queue up and go
// down together in the next one, so many clients share each fsync. The
// daemon releases a reply (or watch event) only once the generation it
// reflects is durable.

import { Level } from 'level';
import type { XsPerm } from '@xenwasm/xs/xs-wire';
import type { Node, PersistSink, Store } from './store.js';

type BatchOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

// Node record: u32 serial, u16 nperms, nperms x (u8 letter, u32 domid), value bytes.
export function encodeNode(n: Node): Buffer {
  const buf = Buffer.allocUnsafe(6 + 5 * n.perms.length + n.value.length);
  buf.writeUInt32LE(n.serial, 0);
  buf.writeUInt16LE(n.perms.length, 4);
  let o = 6;
  for (const p of n.perms) {
    buf[o] = p.read ? (p.write ? 98 : 114) : p.write ? 119 : 110;
    buf.writeUInt32LE(p.id, o + 1);
    o += 5;
  }
  n.value.copy(buf, o);
  return buf;
}

export function decodeNode(buf: Buffer): { serial: number; perms: XsPerm[]; value: Buffer } {
  const serial = buf.readUInt32LE(0);
  const np = buf.readUInt16LE(4);
  const perms: XsPerm[] = [];
  let o = 6;
  for (let i = 0; i < np; i++) {
    const c = buf[o]!;
    perms.push({ id: buf.readUInt32LE(o + 1), read: c === 98 || c === 114, write: c === 98 || c === 119 });
    o += 5;
  }
  return { serial, perms, value: Buffer.from(buf.subarray(o)) };
}

export class Persistence implements PersistSink {
  private db: Level<string, Buffer>;
  private pending: BatchOp[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  /** Highest generation known to be on disk. */
  durableSeq = 0;
  batches = 0;
  failed: Error | undefined;

  constructor(
    dir: string,
    private readonly store: Store,
    private readonly onDurable: (seq: number) => void,
    private readonly onFatal: (e: Error) => void,
  ) {
    this.db = new Level<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  }

  async open(): Promise<void> {
    await this.db.open();
  }

  /** Loads every node into the store. Returns the number of nodes read. */
  async load(): Promise<number> {
    let n = 0;
    for await (const [key, value] of this.db.iterator()) {
      const d = decodeNode(value);
      this.store.loadNode(key, d.value, d.perms, d.serial);
      n++;
    }
    const orphans = this.store.linkLoaded();
    for (const o of orphans) this.del(o);
    return n;
  }

  put(path: string, node: Node): void {
    this.pending.push({ type: 'put', key: path, value: encodeNode(node) });
  }
  del(path: string): void {
    this.pending.push({ type: 'del', key: path });
  }

  /** Called after a burst of request handling: starts a flush unless one is running. */
  schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Writes everything pending (and whatever arrives meanwhile) with sync. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.length === 0 && this.durableSeq >= this.store.seq) return Promise.resolve();
    this.flushing = (async () => {
      // Let the caller store the promise before the body can finish.
      await Promise.resolve();
      try {
        while (this.pending.length > 0 || this.durableSeq < this.store.seq) {
          const ops = this.pending;
          this.pending = [];
          const seq = this.store.seq;
          if (ops.length > 0) {
            await this.db.batch(ops, { sync: true });
            this.batches++;
          }
          this.durableSeq = seq;
          this.onDurable(seq);
        }
      } catch (e) {
        this.failed = e as Error;
        this.onFatal(e as Error);
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  async close(): Promise<void> {
    if (!this.failed) await this.flush();
    await this.db.close();
  }
}

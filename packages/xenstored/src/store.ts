// The live tree, in memory (reads never touch the disk). Every change bumps
// the global generation `seq`; each node remembers the generation of its
// last content change (`gen`) and of its last children change (`cgen`),
// which is what transaction conflict checks compare. Content changes are
// handed to the persistence layer as they happen.

import type { XsPerm } from '@xenwasm/xs/xs-wire';
import { baseName, joinPath, parentOf } from './paths.js';
import type { NodeView, Tree } from './tree.js';

export class Node implements NodeView {
  children = new Set<string>();
  constructor(
    public value: Buffer,
    public perms: XsPerm[],
    public gen: number,
    public cgen: number,
    /** Creation order, persisted so children keep their order across restarts. */
    public serial: number,
  ) {}
}

export interface PersistSink {
  put(path: string, node: Node): void;
  del(path: string): void;
}

export class Store implements Tree {
  readonly nodes = new Map<string, Node>();
  /** Global generation: bumped by every change. */
  seq = 0;
  private nextSerial = 1;
  private owners = new Map<number, number>();
  sink: PersistSink | undefined;

  get(path: string): Node | undefined {
    return this.nodes.get(path);
  }
  lookup(path: string): Node | undefined {
    return this.nodes.get(path);
  }
  childGeneration(path: string): number {
    return this.nodes.get(path)?.cgen ?? -1;
  }
  ownedCount(owner: number): number {
    return this.owners.get(owner) ?? 0;
  }
  private own(owner: number, delta: number): void {
    const n = (this.owners.get(owner) ?? 0) + delta;
    if (n === 0) this.owners.delete(owner);
    else this.owners.set(owner, n);
  }

  /** Loads a node from disk at start-up (no generation bump, no persistence). */
  loadNode(path: string, value: Buffer, perms: XsPerm[], serial: number): void {
    this.nodes.set(path, new Node(value, perms, 0, 0, serial));
    if (serial >= this.nextSerial) this.nextSerial = serial + 1;
    this.own(perms[0]?.id ?? 0, 1);
  }
  /** After loading: links children in creation order; drops orphans. */
  linkLoaded(): string[] {
    const orphans: string[] = [];
    const entries = [...this.nodes.entries()].sort((a, b) => a[1].serial - b[1].serial);
    for (const [path] of entries) {
      if (path === '/') continue;
      let ok = true;
      for (let p = parentOf(path); ; p = parentOf(p)) {
        if (!this.nodes.has(p)) { ok = false; break; }
        if (p === '/') break;
      }
      if (!ok) orphans.push(path);
    }
    for (const o of orphans) {
      this.own(this.nodes.get(o)!.perms[0]?.id ?? 0, -1);
      this.nodes.delete(o);
    }
    for (const [path] of entries) {
      if (path === '/' || !this.nodes.has(path)) continue;
      this.nodes.get(parentOf(path))!.children.add(baseName(path));
    }
    return orphans;
  }

  createNode(path: string, value: Buffer, perms: XsPerm[]): void {
    const seq = ++this.seq;
    const node = new Node(value, perms, seq, seq, this.nextSerial++);
    this.nodes.set(path, node);
    this.own(perms[0]?.id ?? 0, 1);
    if (path !== '/') {
      const parent = this.nodes.get(parentOf(path));
      if (!parent) throw new Error(`createNode ${path}: parent missing`);
      parent.children.add(baseName(path));
      parent.cgen = seq;
    }
    this.sink?.put(path, node);
  }
  setValue(path: string, value: Buffer): void {
    const node = this.nodes.get(path)!;
    node.value = value;
    node.gen = ++this.seq;
    this.sink?.put(path, node);
  }
  setPerms(path: string, perms: XsPerm[]): void {
    const node = this.nodes.get(path)!;
    this.own(node.perms[0]?.id ?? 0, -1);
    this.own(perms[0]?.id ?? 0, 1);
    node.perms = perms;
    node.gen = ++this.seq;
    this.sink?.put(path, node);
  }
  removeNode(path: string): void {
    const node = this.nodes.get(path);
    if (!node) return;
    const seq = ++this.seq;
    const stack = [path];
    while (stack.length) {
      const p = stack.pop()!;
      const n = this.nodes.get(p);
      if (!n) continue;
      for (const c of n.children) stack.push(joinPath(p, c));
      this.nodes.delete(p);
      this.own(n.perms[0]?.id ?? 0, -1);
      this.sink?.del(p);
    }
    if (path !== '/') {
      const parent = this.nodes.get(parentOf(path));
      if (parent) {
        parent.children.delete(baseName(path));
        parent.cgen = seq;
      }
    }
  }

  /** Paths whose owner (first perm entry) is `domid`, top-most only. */
  ownedRoots(domid: number): string[] {
    const out: string[] = [];
    for (const [p, n] of this.nodes) {
      if (p === '/' || n.perms[0]?.id !== domid) continue;
      const parent = this.nodes.get(parentOf(p));
      if (parent && parent.perms[0]?.id === domid && parentOf(p) !== '/') continue;
      out.push(p);
    }
    return out;
  }
}

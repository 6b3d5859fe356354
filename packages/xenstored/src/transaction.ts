// Transactions.
//
// Design choice
// -------------
// Xen 3.2's xenstored copies the whole database at TRANSACTION_START and, at
// commit, compares one global generation counter with its value at start: if
// anything at all changed meanwhile, the commit fails with EAGAIN. Under a
// steady stream of unrelated writes (another domain's backend updating its
// state, say) a transaction can then fail forever: two device creations
// writing the backend and frontend trees of *different* domains keep
// invalidating each other and retry in lockstep. That is the livelock the
// issue forbids.
//
// So, by default, conflicts are detected per node, the way later Xen does:
// a transaction fails only if a node it looked at or changed was changed by
// someone else after the transaction first touched it. The old behaviour is
// kept behind `conflictMode: 'global'` (flag --txn-conflict=global) for
// anyone who needs 3.2's exact EAGAIN pattern.
//
// How it works:
// - The transaction is a copy-on-write view over the live store: nodes it
//   changes live in `overlay` (null = deleted in the transaction); others
//   are read from the live store as they are now.
// - On the first access to each path it records the node's content
//   generation (`gen`, -1 when absent) and children generation (`cgen`),
//   and, for every access, what the caller depended on:
//     DEP_EXISTS   only presence (a parent whose children list we extended),
//     DEP_CONTENT  value or permissions (read, get_perms, permission checks,
//                  writes),
//     DEP_CHILDREN the children list (directory, rm of a subtree).
// - It logs its primitive changes (create, set value, set perms, remove).
// - Commit validates every record against the live store: a DEP_CONTENT
//   node must have the same `gen`, a DEP_CHILDREN node the same `cgen`, a
//   DEP_EXISTS node the same presence. If all hold, every node the
//   transaction depended on is exactly as it saw it, so replaying the log on
//   the live store gives the result it computed: the commit is serialisable
//   at the moment it happens. Replay and the watch events happen in one
//   synchronous step, and the changes reach LevelDB in a single batch, so
//   the transaction is all or nothing on disk too.
// - Adding or removing a child only touches the parent's children list, and
//   the live store merges those lists on replay. Two transactions that each
//   add a different child under the same directory therefore both commit.
//
// Worked conflict traces (A and B are transactions, "outside" is a plain
// request; /t/e1 exists):
//
//  1. A: write /t/e1 x     records /t/e1 gen=g0, DEP_CONTENT
//     outside: read /t/e1  no change
//     A: commit            /t/e1 gen still g0 -> OK            (08transaction.slowtest 1)
//  2. A: write /t/e1 x;  B: write /t/e1 y;  B: abort;  A: commit
//                          B changed nothing live -> A OK      (slowtest 2)
//  3. A: write /t/e1 x;  outside: write /t/e1 z -> gen g1
//     A: commit            g1 != g0 -> EAGAIN, /t/e1 stays z  (slowtest 3)
//  4. A: write /t/e1 x;  B: write /t/e1 y;  B: commit -> gen g1
//     A: commit            EAGAIN, /t/e1 is y                  (slowtest 4)
//  5. Two device creations, domains 1 and 2, /local/domain/0/backend/vbd
//     exists:
//     A: write .../backend/vbd/1/51712/state, /local/domain/1/device/vbd/51712/state
//        records vbd: DEP_CONTENT (perms inherited) + its children list
//        extended, vbd/1...: absent (DEP_EXISTS)
//     B: same for domain 2 (vbd/2/...)
//     A: commit -> vbd's cgen changes, its gen does not -> OK
//     B: commit -> vbd gen unchanged, vbd/2 still absent -> OK
//     (In global mode B gets EAGAIN and must retry; with a third writer
//     active it may never get through.)
//  6. A: directory /t      records /t DEP_CHILDREN cgen=c0
//     outside: write /t/new -> /t cgen c1
//     A: write /t/count "1"; commit -> EAGAIN (A's listing is stale)
//  7. A: rm /t             records /t and its subtree DEP_CHILDREN
//     outside: write /t/e2 (a new child)
//     A: commit -> EAGAIN (A would have removed a node it never saw)

import type { XsPerm } from '@xenwasm/xs/xs-wire';
import { baseName, joinPath, parentOf } from './paths.js';
import type { Store } from './store.js';
import { DEP_CHILDREN, DEP_CONTENT, DEP_EXISTS, type NodeView, type Tree } from './tree.js';

export type ConflictMode = 'node' | 'global';

interface TxNode extends NodeView {
  value: Buffer;
  perms: XsPerm[];
  children: Set<string>;
}

interface Access {
  gen: number;
  cgen: number;
  dep: number;
}

type Op =
  | { op: 'create'; path: string; value: Buffer; perms: XsPerm[] }
  | { op: 'value'; path: string; value: Buffer }
  | { op: 'perms'; path: string; perms: XsPerm[] }
  | { op: 'remove'; path: string };

export class Transaction implements Tree {
  private overlay = new Map<string, TxNode | null>();
  private access = new Map<string, Access>();
  private log: Op[] = [];
  private ownerDelta = new Map<number, number>();
  /** Watch events held back until commit: path -> recursive (rm), first-touch order. */
  readonly events = new Map<string, boolean>();
  readonly startSeq: number;

  constructor(
    readonly id: number,
    private readonly store: Store,
    private readonly mode: ConflictMode,
  ) {
    this.startSeq = store.seq;
  }

  private record(path: string, dep: number): void {
    const a = this.access.get(path);
    if (a) {
      a.dep |= dep;
      return;
    }
    const live = this.store.get(path);
    this.access.set(path, { gen: live ? live.gen : -1, cgen: live ? live.cgen : -1, dep });
  }

  private view(path: string): NodeView | undefined {
    if (this.overlay.has(path)) return this.overlay.get(path) ?? undefined;
    return this.store.get(path);
  }

  lookup(path: string, dep: number): NodeView | undefined {
    this.record(path, dep);
    return this.view(path);
  }

  childGeneration(path: string): number {
    this.record(path, DEP_CHILDREN);
    // Inside a transaction the listing is stable until commit.
    return this.access.get(path)!.cgen;
  }

  ownedCount(owner: number): number {
    return this.store.ownedCount(owner) + (this.ownerDelta.get(owner) ?? 0);
  }
  private own(owner: number, d: number): void {
    this.ownerDelta.set(owner, (this.ownerDelta.get(owner) ?? 0) + d);
  }

  /** The transaction's private, writable copy of an existing node. */
  private mine(path: string): TxNode {
    const cur = this.overlay.get(path);
    if (cur) return cur;
    const live = this.store.get(path);
    if (!live) throw new Error(`transaction: ${path} does not exist`);
    const copy: TxNode = { value: live.value, perms: live.perms, children: new Set(live.children) };
    this.overlay.set(path, copy);
    return copy;
  }

  createNode(path: string, value: Buffer, perms: XsPerm[]): void {
    this.record(path, DEP_EXISTS);
    this.overlay.set(path, { value, perms, children: new Set() });
    this.own(perms[0]?.id ?? 0, 1);
    const parent = parentOf(path);
    this.record(parent, DEP_EXISTS);
    this.mine(parent).children.add(baseName(path));
    this.log.push({ op: 'create', path, value, perms });
  }

  setValue(path: string, value: Buffer): void {
    this.record(path, DEP_CONTENT);
    this.mine(path).value = value;
    this.log.push({ op: 'value', path, value });
  }

  setPerms(path: string, perms: XsPerm[]): void {
    this.record(path, DEP_CONTENT);
    const n = this.mine(path);
    this.own(n.perms[0]?.id ?? 0, -1);
    this.own(perms[0]?.id ?? 0, 1);
    n.perms = perms;
    this.log.push({ op: 'perms', path, perms });
  }

  removeNode(path: string): void {
    const stack = [path];
    while (stack.length) {
      const p = stack.pop()!;
      this.record(p, DEP_EXISTS | DEP_CHILDREN);
      const n = this.view(p);
      if (!n) continue;
      for (const c of n.children) stack.push(joinPath(p, c));
      this.own(n.perms[0]?.id ?? 0, -1);
      this.overlay.set(p, null);
    }
    if (path !== '/') {
      const parent = parentOf(path);
      this.record(parent, DEP_EXISTS);
      this.mine(parent).children.delete(baseName(path));
    }
    this.log.push({ op: 'remove', path });
  }

  /** Would committing now succeed? */
  conflicts(): boolean {
    if (this.mode === 'global') return this.store.seq !== this.startSeq;
    for (const [path, a] of this.access) {
      const live = this.store.get(path);
      if (a.dep & DEP_CONTENT && (live ? live.gen : -1) !== a.gen) return true;
      if (a.dep & DEP_CHILDREN && (live ? live.cgen : -1) !== a.cgen) return true;
      if (a.dep & DEP_EXISTS && (live !== undefined) !== (a.gen !== -1)) return true;
    }
    return false;
  }

  /** Applies the logged changes to the live store (after `conflicts()` said no). */
  apply(): void {
    for (const op of this.log) {
      switch (op.op) {
        case 'create':
          // A parent created earlier in the log exists by now; a node that
          // appeared meanwhile would have been a conflict.
          this.store.createNode(op.path, op.value, op.perms);
          break;
        case 'value':
          this.store.setValue(op.path, op.value);
          break;
        case 'perms':
          this.store.setPerms(op.path, op.perms);
          break;
        case 'remove':
          this.store.removeNode(op.path);
          break;
      }
    }
  }

  get changed(): boolean {
    return this.log.length > 0;
  }
}

// The shape shared by the live store and a transaction's view of it, so the
// request handlers are written once.

import type { XsPerm } from '@xenwasm/xs/xs-wire';

/** What a lookup depends on; a transaction records it for conflict checks. */
export const DEP_EXISTS = 1; // only whether the node is there
export const DEP_CONTENT = 2; // its value or permissions
export const DEP_CHILDREN = 4; // its list of children

export interface NodeView {
  readonly value: Buffer;
  readonly perms: readonly XsPerm[];
  readonly children: ReadonlySet<string>;
}

export interface Tree {
  lookup(path: string, dep: number): NodeView | undefined;
  /** Generation of a node's children list (DIRECTORY_PART), -1 if absent. */
  childGeneration(path: string): number;
  /** Creates a node whose parent exists in this tree. */
  createNode(path: string, value: Buffer, perms: XsPerm[]): void;
  setValue(path: string, value: Buffer): void;
  setPerms(path: string, perms: XsPerm[]): void;
  /** Removes a node and everything below it. */
  removeNode(path: string): void;
  /** Nodes owned by each domid as this tree sees them (quota). */
  ownedCount(owner: number): number;
}

/** Xen's node record size, which the entry-size quota limits. */
export function entrySize(value: Buffer, nperms: number, children: ReadonlySet<string>): number {
  let c = 0;
  for (const n of children) c += Buffer.byteLength(n) + 1;
  return 12 + 8 * nperms + value.length + c;
}

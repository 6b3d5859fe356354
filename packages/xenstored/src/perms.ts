// Access checks with Xen's semantics (perm_for_conn): dom0 and the owner get
// everything, then the first per-domain entry that names the caller, then the
// node's default; a read-only socket never gets WRITE.

import type { XsPerm } from '@xenwasm/xs/xs-wire';

export const PERM_READ = 1;
export const PERM_WRITE = 2;
export const PERM_OWNER = 4;
const ALL = PERM_READ | PERM_WRITE | PERM_OWNER;

/** Who is asking: the connection's domid, read-only flag, and set_target target. */
export interface Caller {
  id: number;
  readonly: boolean;
  target?: number;
}

function bits(p: XsPerm): number {
  return (p.read ? PERM_READ : 0) | (p.write ? PERM_WRITE : 0);
}

function permFor(id: number, perms: readonly XsPerm[]): number {
  const owner = perms[0];
  if (!owner) return 0;
  if (id === 0 || owner.id === id) return ALL;
  for (let i = 1; i < perms.length; i++) if (perms[i]!.id === id) return bits(perms[i]!);
  return bits(owner);
}

export function permForCaller(c: Caller, perms: readonly XsPerm[]): number {
  let got = permFor(c.id, perms);
  // A device-model domain with a target acts with the target's rights too (SET_TARGET).
  if (c.target !== undefined) got |= permFor(c.target, perms) & ~(c.target === 0 ? ALL : 0);
  if (c.readonly) got &= ~PERM_WRITE;
  return got;
}

export function hasPerm(c: Caller, perms: readonly XsPerm[], need: number): boolean {
  return (permForCaller(c, perms) & need) === need;
}

export function isPrivileged(c: Caller): boolean {
  return c.id === 0;
}

// Grant-table bookkeeping. The grant entries themselves are in the granter's
// memory and the glue validates them; the core keeps the maptrack (who maps
// what, returned as a handle) and the pin counts per (granter, gref), so the
// glue knows when to clear GTF_reading / GTF_writing and a backend's mapping
// outlives a granter that dies (its slot is released after the last unmap).
import { EINVAL, ENOMEM, ENOSPC, ESRCH, EBUSY, GRANT_ENTRIES_PER_FRAME, MAX_GRANT_FRAMES } from './abi';
import {
  D_DYING, D_FOREIGN, D_GBLOCKS, D_GFRAMES, D_MTCOUNT, H_MTCOUNT, H_MTFREE, H_MTPERDOM, H_SCRATCH,
  MT_SIZE, blockAddr, blockAlloc, blockFree, liveDom, mtAddr,
} from './state';
import { domainFinal } from './domain';

// Maptrack entry: +0 u8 in use, +1 u8 readonly, +2 u16 grantee, +4 u16 granter, +8 u32 gref, +12 next free.
const M_INUSE: usize = 0;
const M_RO: usize = 1;
const M_GRANTEE: usize = 2;
const M_GRANTER: usize = 4;
const M_GREF: usize = 8;
const M_NEXT: usize = 12;

export function maptrackBoot(): void {
  const n = load<i32>(H_MTCOUNT);
  for (let i = 0; i < n; i++) store<i32>(mtAddr(i) + M_NEXT, i + 1 < n ? i + 1 : -1);
  store<i32>(H_MTFREE, n > 0 ? 0 : -1);
}

export function grantSetup(d: i32, nr: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (nr < 0 || nr > MAX_GRANT_FRAMES) return -EINVAL;
  // Tables grow, never shrink (gnttab_setup_table).
  if (nr > load<i32>(da + D_GFRAMES)) store<i32>(da + D_GFRAMES, nr);
  return 0;
}

export function grantQuery(d: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  return load<i32>(da + D_GFRAMES);
}

/** Address of the (u16 readers, u16 writers) pair, allocating its block if `alloc`; 0 if none. */
function pinAddr(da: usize, gref: i32, alloc: bool): usize {
  const bp = da + D_GBLOCKS + <usize>(gref / GRANT_ENTRIES_PER_FRAME) * 4;
  let b = load<u32>(bp);
  if (b == 0) {
    if (!alloc) return 0;
    const blk = blockAlloc();
    if (blk < 0) return 0;
    b = <u32>blk + 1;
    store<u32>(bp, b);
  }
  return blockAddr(<i32>b - 1) + <usize>(gref % GRANT_ENTRIES_PER_FRAME) * 4;
}

export function grantMap(grantee: i32, granter: i32, gref: i32, ro: i32): i32 {
  const ea = liveDom(grantee);
  if (ea == 0 || load<u8>(ea + D_DYING) != 0) return -ESRCH;
  const ra = liveDom(granter);
  if (ra == 0 || load<u8>(ra + D_DYING) != 0) return -ESRCH;
  if (gref < 0 || gref >= load<i32>(ra + D_GFRAMES) * GRANT_ENTRIES_PER_FRAME) return -EINVAL;
  if (load<i32>(ea + D_MTCOUNT) >= load<i32>(H_MTPERDOM)) return -ENOSPC;
  const h = load<i32>(H_MTFREE);
  if (h < 0) return -ENOSPC;
  const pa = pinAddr(ra, gref, true);
  if (pa == 0) return -ENOMEM;
  const off: usize = ro != 0 ? 0 : 2;
  const pins = load<u16>(pa + off);
  if (pins == 0xffff) return -EBUSY;
  store<u16>(pa + off, pins + 1);
  const m = mtAddr(h);
  store<i32>(H_MTFREE, load<i32>(m + M_NEXT));
  store<u8>(m + M_INUSE, 1);
  store<u8>(m + M_RO, ro != 0 ? 1 : 0);
  store<u16>(m + M_GRANTEE, <u16>grantee);
  store<u16>(m + M_GRANTER, <u16>granter);
  store<i32>(m + M_GREF, gref);
  store<i32>(ea + D_MTCOUNT, load<i32>(ea + D_MTCOUNT) + 1);
  store<i32>(ra + D_FOREIGN, load<i32>(ra + D_FOREIGN) + 1);
  return h;
}

/** Drop one mapping; writes granter, gref, readonly, lastReader, lastWriter to scratch. */
function unmapEntry(h: i32): void {
  const m = mtAddr(h);
  const grantee = <i32>load<u16>(m + M_GRANTEE);
  const granter = <i32>load<u16>(m + M_GRANTER);
  const gref = load<i32>(m + M_GREF);
  const ro = load<u8>(m + M_RO) != 0;
  const ra = liveDom(granter);
  let readers = 0;
  let writers = 0;
  if (ra != 0) {
    const pa = pinAddr(ra, gref, false);
    if (pa != 0) {
      const off: usize = ro ? 0 : 2;
      const c = load<u16>(pa + off);
      if (c > 0) store<u16>(pa + off, c - 1);
      readers = <i32>load<u16>(pa);
      writers = <i32>load<u16>(pa + 2);
    }
  }
  const out = <usize>load<u32>(H_SCRATCH);
  store<i32>(out, granter);
  store<i32>(out + 4, gref);
  store<i32>(out + 8, ro ? 1 : 0);
  store<i32>(out + 12, readers + writers == 0 ? 1 : 0);
  store<i32>(out + 16, !ro && writers == 0 ? 1 : 0);
  store<u8>(m + M_INUSE, 0);
  store<i32>(m + M_NEXT, load<i32>(H_MTFREE));
  store<i32>(H_MTFREE, h);
  const ea = liveDom(grantee);
  if (ea != 0) store<i32>(ea + D_MTCOUNT, load<i32>(ea + D_MTCOUNT) - 1);
  if (ra != 0) {
    const left = load<i32>(ra + D_FOREIGN) - 1;
    store<i32>(ra + D_FOREIGN, left);
    if (left == 0 && load<u8>(ra + D_DYING) != 0) domainFinal(granter);
  }
}

export function grantUnmap(grantee: i32, h: i32): i32 {
  if (h < 0 || h >= load<i32>(H_MTCOUNT)) return -EINVAL;
  const m = mtAddr(h);
  if (load<u8>(m + M_INUSE) == 0 || <i32>load<u16>(m + M_GRANTEE) != grantee) return -EINVAL;
  unmapEntry(h);
  return 0;
}

export function grantPins(granter: i32, gref: i32): i32 {
  const ra = liveDom(granter);
  if (ra == 0) return -ESRCH;
  if (gref < 0 || gref >= MAX_GRANT_FRAMES * GRANT_ENTRIES_PER_FRAME) return -EINVAL;
  const pa = pinAddr(ra, gref, false);
  const out = <usize>load<u32>(H_SCRATCH);
  store<i32>(out, pa == 0 ? 0 : <i32>load<u16>(pa));
  store<i32>(out + 4, pa == 0 ? 0 : <i32>load<u16>(pa + 2));
  return 0;
}

/** Drop every mapping `grantee` holds (it is being destroyed). */
export function grantReleaseAll(grantee: i32, ea: usize): void {
  if (load<i32>(ea + D_MTCOUNT) == 0) return;
  const n = load<i32>(H_MTCOUNT);
  for (let h = 0; h < n; h++) {
    const m = mtAddr(h);
    if (load<u8>(m + M_INUSE) != 0 && <i32>load<u16>(m + M_GRANTEE) == grantee) unmapEntry(h);
    if (load<i32>(ea + D_MTCOUNT) == 0) break;
  }
}

export function freeGrantBlocks(da: usize): void {
  for (let f = 0; f < MAX_GRANT_FRAMES; f++) {
    const bp = da + D_GBLOCKS + <usize>f * 4;
    const x = load<u32>(bp);
    if (x != 0) { blockFree(<i32>x - 1); store<u32>(bp, 0); }
  }
}

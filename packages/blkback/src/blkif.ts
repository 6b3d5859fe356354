// blkif.h for the 32-bit guest ABI (x86_32-abi layout, which is ours: a
// wasm32 guest): request 108 bytes (u8 operation, u8 nr_segments, u16
// handle, u64 id at 4, u64 sector_number at 12, 11 segments of 8 bytes at
// 20: u32 gref, u8 first_sect, u8 last_sect), response 12 bytes (u64 id,
// u8 operation at 8, i16 status at 10). Ring slots are the larger, 108.
//
// Indirect requests (BLKIF_OP_INDIRECT, offered by `feature-max-indirect-
// segments`): u8 operation 6, u8 indirect_op at 1, u16 nr_segments at 2,
// u64 id at 4, u64 sector_number at 12, u16 handle at 20, u32
// indirect_grefs[8] at 24; the segments (8 bytes each, as above, 512 to a
// page) sit in the pages those grefs name.
export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
export const BLKIF_OP_WRITE_BARRIER = 2;
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
export const BLKIF_OP_INDIRECT = 6;
export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;
export const BLKIF_SEGS_PER_INDIRECT_FRAME = 512;
/** What we offer in feature-max-indirect-segments (Linux's blkback default: 1 MiB requests). */
export const MAX_INDIRECT_SEGMENTS = 256;
export const BLKIF_RSP_OKAY = 0;
export const BLKIF_RSP_ERROR = -1;
export const BLKIF_RSP_EOPNOTSUPP = -2;
export const BLKIF_REQ_SIZE = 108;
export const BLKIF_SEG_OFF = 20;
export const BLKIF_INDIRECT_GREFS_OFF = 24;
export const VDISK_READONLY = 4;
export const SECTOR_SIZE = 512;
export const PROTOCOL_X86_32 = 'x86_32-abi';

export interface BlkifSegment {
  gref: number;
  first: number;
  last: number;
}
export interface BlkifRequest {
  operation: number;
  /** The op an indirect request carries (READ or WRITE); = operation otherwise. */
  op: number;
  nrSegments: number;
  handle: number;
  id: bigint;
  sector: bigint;
  /** Direct requests: the segments in the slot. Indirect: filled from the indirect pages. */
  segs: BlkifSegment[];
  /** Indirect requests: the grefs of the pages holding the segments. */
  indirectGrefs: number[];
}

export function parseRequest(b: Buffer): BlkifRequest {
  const operation = b[0]!;
  if (operation === BLKIF_OP_INDIRECT) {
    const nr = b.readUInt16LE(2);
    const pages = Math.min(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, Math.ceil(nr / BLKIF_SEGS_PER_INDIRECT_FRAME));
    const indirectGrefs: number[] = [];
    for (let i = 0; i < pages; i++) indirectGrefs.push(b.readUInt32LE(BLKIF_INDIRECT_GREFS_OFF + 4 * i));
    return { operation, op: b[1]!, nrSegments: nr, handle: b.readUInt16LE(20), id: b.readBigUInt64LE(4), sector: b.readBigUInt64LE(12), segs: [], indirectGrefs };
  }
  const nr = b[1]!;
  const segs: BlkifSegment[] = [];
  for (let i = 0; i < Math.min(nr, BLKIF_MAX_SEGMENTS_PER_REQUEST); i++) {
    const o = BLKIF_SEG_OFF + i * 8;
    segs.push({ gref: b.readUInt32LE(o), first: b[o + 4]!, last: b[o + 5]! });
  }
  return { operation, op: operation, nrSegments: nr, handle: b.readUInt16LE(2), id: b.readBigUInt64LE(4), sector: b.readBigUInt64LE(12), segs, indirectGrefs: [] };
}

/** Segments from a copy of the indirect pages' contents (nr of them, 8 bytes each). */
export function parseIndirectSegments(b: Buffer, nr: number): BlkifSegment[] {
  const segs: BlkifSegment[] = new Array(nr);
  for (let i = 0; i < nr; i++) {
    const o = i * 8;
    segs[i] = { gref: b.readUInt32LE(o), first: b[o + 4]!, last: b[o + 5]! };
  }
  return segs;
}

export function writeResponse(slot: Uint8Array, id: bigint, operation: number, status: number): void {
  const dv = new DataView(slot.buffer, slot.byteOffset, 12);
  dv.setBigUint64(0, id, true);
  dv.setUint8(8, operation);
  dv.setUint8(9, 0);
  dv.setInt16(10, status, true);
}

// blkif.h for the 32-bit guest ABI (x86_32-abi layout, which is ours: a
// wasm32 guest): request 108 bytes (u8 operation, u8 nr_segments, u16
// handle, u64 id at 4, u64 sector_number at 12, 11 segments of 8 bytes at
// 20: u32 gref, u8 first_sect, u8 last_sect), response 12 bytes (u64 id,
// u8 operation at 8, i16 status at 10). Ring slots are the larger, 108.
export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
export const BLKIF_OP_WRITE_BARRIER = 2;
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
export const BLKIF_RSP_OKAY = 0;
export const BLKIF_RSP_ERROR = -1;
export const BLKIF_RSP_EOPNOTSUPP = -2;
export const BLKIF_REQ_SIZE = 108;
export const BLKIF_SEG_OFF = 20;
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
  nrSegments: number;
  handle: number;
  id: bigint;
  sector: bigint;
  segs: BlkifSegment[];
}

export function parseRequest(b: Buffer): BlkifRequest {
  const nr = b[1]!;
  const segs: BlkifSegment[] = [];
  for (let i = 0; i < Math.min(nr, BLKIF_MAX_SEGMENTS_PER_REQUEST); i++) {
    const o = BLKIF_SEG_OFF + i * 8;
    segs.push({ gref: b.readUInt32LE(o), first: b[o + 4]!, last: b[o + 5]! });
  }
  return { operation: b[0]!, nrSegments: nr, handle: b.readUInt16LE(2), id: b.readBigUInt64LE(4), sector: b.readBigUInt64LE(12), segs };
}

export function writeResponse(slot: Uint8Array, id: bigint, operation: number, status: number): void {
  const dv = new DataView(slot.buffer, slot.byteOffset, 12);
  dv.setBigUint64(0, id, true);
  dv.setUint8(8, operation);
  dv.setUint8(9, 0);
  dv.setInt16(10, status, true);
}

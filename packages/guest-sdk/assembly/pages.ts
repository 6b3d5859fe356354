// Page-aligned memory for shared rings and I/O buffers. Pages come from the
// allocator unmanaged (heap.alloc): the collector never frees or moves them,
// so drivers take their pages once, at setup.
import { ROOT } from "rt/tlsf";

/** n zeroed pages, 4096-aligned (never freed). */
export function alloc_pages(n: u32): usize {
  const raw = heap.alloc(<usize>(n + 1) << 12);
  const p = (raw + 4095) & ~<usize>4095;
  memory.fill(p, 0, <usize>n << 12);
  return p;
}

// AssemblyScript's TLSF allocator (0.28, wasm32), which the collector sits
// on. The root ends with a pointer to the tail: a sentinel block at the end
// of the heap. When the block left of the tail is free, the tail's header
// has LEFTFREE set and the word before the tail points at that block, whose
// header holds its size. That block is the only free space a request can be
// sure to get without growing memory: free holes lower down may be small.
const TLSF_FL_BITS: usize = 23; // 31 - (SL_BITS 4 + AL_BITS 4)
const TLSF_SL_SIZE: usize = 16;
const TLSF_HL_START: usize = 96; // flMap + 23 slMap words, 16-aligned
const TLSF_TAIL: usize = TLSF_HL_START + TLSF_FL_BITS * TLSF_SL_SIZE * sizeof<usize>();
const TLSF_LEFTFREE: usize = 2;
const TLSF_TAGS: usize = 3;

/**
 * Bytes one allocation can take without growing linear memory: the free
 * block at the top of the heap, less what the allocator's size classes may
 * round a request up by (one eighth covers TLSF's 1/16 steps).
 */
export function heap_headroom(): usize {
  if (changetype<usize>(ROOT) == 0) heap.free(heap.alloc(16)); // the allocator sets itself up on first use
  const tail = load<usize>(changetype<usize>(ROOT) + TLSF_TAIL);
  if (!(load<usize>(tail) & TLSF_LEFTFREE)) return 0;
  const top = load<usize>(tail - sizeof<usize>());
  const size = load<usize>(top) & ~TLSF_TAGS;
  return size - (size >> 3);
}

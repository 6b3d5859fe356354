// Page-aligned memory for shared rings and I/O buffers. The stub runtime
// never frees, so drivers take their pages once, at setup.

/** n zeroed pages, 4096-aligned (never freed). */
export function alloc_pages(n: u32): usize {
  const raw = heap.alloc(<usize>(n + 1) << 12);
  const p = (raw + 4095) & ~<usize>4095;
  memory.fill(p, 0, <usize>n << 12);
  return p;
}

/** Bytes between the allocator's top and the end of linear memory (what can be taken without growing). */
export function heap_headroom(): usize {
  const probe = heap.alloc(16);
  const end = <usize>memory.size() << 16;
  return end > probe + 16 ? end - probe - 16 : 0;
}

// The balloon driver: follows memory/target (KiB; xm mem-set writes it).
// Above the target it takes free pages from the allocator and gives them
// back to Xen (decrease_reservation); below it, it asks for ballooned pages
// back (increase_reservation) and returns them to its own free list. A
// wasm memory cannot shrink, so a ballooned page stays in linear memory,
// promised untouched; only the balloon owns it. Pages it cannot find
// without growing memory are left (the target is then not reached: printed).
import { xenbus_read_int, xenbus_watch } from "./xenbus";
import { current_reservation, decrease_reservation, increase_reservation } from "./memory";
import { heap_headroom } from "./pages";

export const BALLOON_TOKEN = "balloon";
// The pfn list is sized on first use (the reservation then): idle guests that never balloon pay nothing.
let MAX_BALLOON: i32 = 0;
let pfns: StaticArray<u32> = changetype<StaticArray<u32>>(0);
let owned: i32 = 0;    // pages the balloon took from the allocator (pfns[0..owned))
let out: i32 = 0;      // of those, given back to Xen (pfns[0..out))

/** Watches memory/target (token BALLOON_TOKEN). 0 or -errno. */
export function balloon_init(): i32 {
  return xenbus_watch("memory/target", BALLOON_TOKEN);
}

/** Pages currently given back to Xen. */
export function balloon_pages(): i32 { return out; }

/** Moves the reservation toward memory/target; returns the reservation in pages afterwards. */
export function balloon_apply(): i32 {
  const target = xenbus_read_int("memory/target", -1);
  if (target <= 0) return current_reservation();
  const want = <i32>(target >> 2);
  const cur = current_reservation();
  if (cur < 0) return cur;
  if (cur > want) {
    if (MAX_BALLOON == 0) {
      MAX_BALLOON = cur;
      pfns = new StaticArray<u32>(cur);
    }
    let need = cur - want;
    // Pages we own but gave back earlier are reused first.
    while (need > 0 && owned > out) {
      const n = min<i32>(need, owned - out);
      const r = decrease_reservation(changetype<usize>(pfns) + (<usize>out << 2), <u32>n);
      if (r <= 0) break;
      out += r;
      need -= r;
    }
    while (need > 0 && owned < MAX_BALLOON) {
      // One spare page for alignment: the block holds n whole pages.
      const n = min<i32>(need, min<i32>(MAX_BALLOON - owned, <i32>(heap_headroom() >> 12) - 2));
      if (n <= 0) break;
      const raw = heap.alloc(<usize>(n + 1) << 12);
      const first = <u32>((raw + 4095) >> 12);
      for (let i: i32 = 0; i < n; i++) unchecked(pfns[owned++] = first + <u32>i);
      const r = decrease_reservation(changetype<usize>(pfns) + (<usize>out << 2), <u32>n);
      if (r <= 0) break;
      out += r;
      need -= r;
    }
  } else if (cur < want && out > 0) {
    const n = min<i32>(want - cur, out);
    const r = increase_reservation(<u32>n, 0);
    if (r > 0) out -= r;
  }
  return current_reservation();
}

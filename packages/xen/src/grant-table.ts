// Grant table v1 entries as they sit in the granting domain's memory
// (pfn 8..15), and the checks Xen makes before honouring a map or a copy:
// the entry must permit access, name the domain asking, and allow writing if
// a write is asked for. While a grant is mapped, GTF_reading / GTF_writing
// stay set in the entry, so a guest that tries to revoke it (clearing the
// entry with a compare-and-swap, as Xen's gnttab_end_foreign_access does)
// sees it is still in use and cannot pull the page from under a backend.
import {
  GRANT_ENTRIES_PER_FRAME,
  GTF_permit_access,
  GTF_readonly,
  GTF_reading,
  GTF_type_mask,
  GTF_writing,
  PAGE_SIZE,
  PFN_GRANT_TABLE,
} from './abi.js';
import { GNTST_bad_gntref, GNTST_bad_page, GNTST_permission_denied } from './hypercall-numbers.js';

export class GrantStatusError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface GrantTarget {
  frame: number; // pfn in the granter's memory
  readonly: boolean;
}

function entryWord(gref: number): number {
  return (PFN_GRANT_TABLE * PAGE_SIZE + gref * 8) >> 2;
}

interface ValidEntry {
  word: number; // flags | domid << 16, as read
  frame: number;
}

/** Read and check the entry once: permit_access, granted to `grantee`, writable if asked, frame inside memory. */
function validate(words: Int32Array, pages: number, nrFrames: number, gref: number, grantee: number, wantWrite: boolean): ValidEntry {
  if (!Number.isInteger(gref) || gref < 0 || gref >= nrFrames * GRANT_ENTRIES_PER_FRAME) {
    throw new GrantStatusError(GNTST_bad_gntref, `invalid grant reference ${gref}`);
  }
  const w = entryWord(gref);
  const word = Atomics.load(words, w);
  const flags = word & 0xffff;
  if ((flags & GTF_type_mask) !== GTF_permit_access || ((word >>> 16) & 0xffff) !== grantee) {
    throw new GrantStatusError(GNTST_permission_denied, `grant ${gref} is not granted to domain ${grantee}`);
  }
  if (wantWrite && flags & GTF_readonly) throw new GrantStatusError(GNTST_permission_denied, `grant ${gref} is read-only`);
  const frame = Atomics.load(words, w + 1) >>> 0;
  if (frame >= pages) throw new GrantStatusError(GNTST_bad_page, `grant ${gref} names frame ${frame} beyond the domain's memory`);
  return { word, frame };
}

/**
 * Validate `gref` of the granter for `grantee` and pin it (set the in-use
 * flag) atomically against a concurrent revoke. `nrFrames` bounds the table.
 */
export function pinGrant(words: Int32Array, pages: number, nrFrames: number, gref: number, grantee: number, wantWrite: boolean): GrantTarget {
  for (;;) {
    const v = validate(words, pages, nrFrames, gref, grantee, wantWrite);
    const want = v.word | (wantWrite ? GTF_writing | GTF_reading : GTF_reading);
    if (Atomics.compareExchange(words, entryWord(gref), v.word, want) === v.word) return { frame: v.frame, readonly: !wantWrite };
    // The guest changed the entry under us: look again, as Xen retries its cmpxchg.
  }
}

/** Drop the in-use flags once the last mapping of that kind is gone. */
export function unpinGrant(granterWords: Int32Array, gref: number, lastReader: boolean, lastWriter: boolean): void {
  let clear = 0;
  if (lastWriter) clear |= GTF_writing;
  if (lastReader) clear |= GTF_reading;
  if (clear) Atomics.and(granterWords, entryWord(gref), ~clear);
}

/** One-shot check for a copy (no pin kept). */
export function checkGrant(words: Int32Array, pages: number, nrFrames: number, gref: number, grantee: number, wantWrite: boolean): GrantTarget {
  return { frame: validate(words, pages, nrFrames, gref, grantee, wantWrite).frame, readonly: !wantWrite };
}

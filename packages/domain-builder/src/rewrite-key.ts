// The cache key of a rewrite, apart from the rewriter itself: a cache hit
// (every domain build after the first of a guest) must not load binaryen.
import { createHash } from 'node:crypto';
import type { RewriteOptions } from './rewrite.js';

/** Bumped whenever the rewriter's output for the same input changes. */
export const REWRITER_VERSION = 3;

/** Cache key of a rewrite: hash of (rewriter version, options, input). */
export function rewriteKey(wasm: Uint8Array, opts: RewriteOptions): string {
  return createHash('sha256')
    .update(`xenwasm-rewrite-v${REWRITER_VERSION}\0${opts.maxMemoryPages}\0${opts.initialMemoryPages ?? ''}\0${opts.asyncify ?? ''}\0${opts.hvm ? 'hvm\0' : ''}`)
    .update(wasm)
    .digest('hex');
}

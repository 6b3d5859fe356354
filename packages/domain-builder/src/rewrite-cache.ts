// Rewritten modules by hash of (input, options, rewriter version): in memory,
// and optionally in a directory, because rewriting a large module (asyncify)
// takes seconds. The rewriter (and binaryen with it) is loaded on the first miss.
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { rewriteKey } from './rewrite-key.js';
import type { RewriteOptions, RewriteResult } from './rewrite.js';

export class RewriteCache {
  private readonly memory = new Map<string, RewriteResult>();
  hits = 0;
  misses = 0;

  /** dir: where rewritten modules persist across processes (optional). maxEntries bounds the in-memory part. */
  constructor(readonly dir: string | null = null, readonly maxEntries = 64) {}

  async rewrite(wasm: Uint8Array, opts: RewriteOptions): Promise<RewriteResult & { cached: boolean }> {
    const key = rewriteKey(wasm, opts);
    const hit = this.memory.get(key);
    if (hit) {
      this.hits++;
      this.memory.delete(key);
      this.memory.set(key, hit); // most recently used last
      return { ...hit, cached: true };
    }
    if (this.dir) {
      try {
        const [bin, info] = await Promise.all([
          readFile(path.join(this.dir, `${key}.wasm`)),
          readFile(path.join(this.dir, `${key}.json`), 'utf8'),
        ]);
        const r: RewriteResult = { wasm: new Uint8Array(bin), info: JSON.parse(info) };
        this.hits++;
        this.remember(key, r);
        return { ...r, cached: true };
      } catch { /* not cached on disk */ }
    }
    this.misses++;
    const { rewriteGuest } = await import('./rewrite.js');
    const r = rewriteGuest(wasm, opts);
    this.remember(key, r);
    if (this.dir) {
      await mkdir(this.dir, { recursive: true });
      // Write then rename, so a concurrent reader never sees half a module.
      const tmp = path.join(this.dir, `.${key}.${process.pid}.${Date.now()}`);
      await writeFile(`${tmp}.wasm`, r.wasm);
      await writeFile(`${tmp}.json`, JSON.stringify(r.info));
      await rename(`${tmp}.wasm`, path.join(this.dir, `${key}.wasm`));
      await rename(`${tmp}.json`, path.join(this.dir, `${key}.json`));
    }
    return { ...r, cached: false };
  }

  private remember(key: string, r: RewriteResult): void {
    this.memory.set(key, r);
    while (this.memory.size > this.maxEntries) this.memory.delete(this.memory.keys().next().value!);
  }
}

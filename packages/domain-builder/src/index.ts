// Everything but the rewriter itself, which loads binaryen (~0.2 s of CPU
// and tens of MiB in every thread that imports it): executor threads and a
// domain build that hits the rewrite cache never need it. The rewriter is
// `@xenwasm/domain-builder/rewrite`; RewriteCache loads it on a miss.
export * from './abi.js';
export { rewriteKey, REWRITER_VERSION } from './rewrite-key.js';
export type { RewriteOptions, RewriteInfo, RewriteResult } from './rewrite.js';
export { RewriteCache } from './rewrite-cache.js';
export { GuestInstance, GuestExit } from './guest-instance.js';
export type { GuestCallbacks, GuestHost, GuestState, RunResult, GuestInstanceOptions, GuestStatus } from './guest-instance.js';
export { writeStartInfo, initSharedInfo } from './start-info.js';
export type { StartInfoFields } from './start-info.js';
export { runDirect } from './direct-run.js';
export type { DirectRunResult } from './direct-run.js';

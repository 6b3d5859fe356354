export { startXenstored, resolvePaths, type Xenstored, type XenstoredOptions, type XenstoredStats } from './daemon.js';
export { XenstoreCore, DEFAULT_QUOTAS, DEFAULT_LIMITS, type Quotas, type Limits, type Domain } from './core.js';
export {
  sharedRingPage, SharedMemoryRingProvider, RingFrontend, RingConnection,
  type RingPage, type EventChannel, type DomainRingProvider,
} from './ring.js';
export type { ConflictMode } from './transaction.js';

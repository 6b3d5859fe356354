// The global lock: a three-state futex word (0 free, 1 held, 2 held with
// waiters) in the shared header. Critical sections are short, so a waiter
// spins a little before sleeping in the host's Atomics.wait.
import { H_LOCK, H_LOCKOWNER, hostWait } from './state';

const SPINS: i32 = 256;

/** Take the lock for caller `me` (> 0). Returns -1 if `me` already holds it (a hook re-entered the core). */
export function lockAcquire(me: i32): i32 {
  if (atomic.load<i32>(H_LOCKOWNER) == me) return -1;
  if (atomic.cmpxchg<i32>(H_LOCK, 0, 1) != 0) {
    let got = false;
    for (let i = 0; i < SPINS; i++) {
      if (atomic.load<i32>(H_LOCK) == 0 && atomic.cmpxchg<i32>(H_LOCK, 0, 1) == 0) { got = true; break; }
    }
    if (!got) {
      let c = atomic.xchg<i32>(H_LOCK, 2);
      while (c != 0) {
        hostWait(H_LOCK, 2);
        c = atomic.xchg<i32>(H_LOCK, 2);
      }
    }
  }
  atomic.store<i32>(H_LOCKOWNER, me);
  return 0;
}

export function lockRelease(): void {
  atomic.store<i32>(H_LOCKOWNER, 0);
  if (atomic.sub<i32>(H_LOCK, 1) != 1) {
    atomic.store<i32>(H_LOCK, 0);
    atomic.notify(H_LOCK, 1);
  }
}

/** Who holds the lock (0 = nobody); lets the wrapper free it after a trap. */
export function lockOwner(): i32 { return atomic.load<i32>(H_LOCKOWNER); }

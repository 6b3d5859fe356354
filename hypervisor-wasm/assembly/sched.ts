// The credit scheduler (sched_credit's rules, accounting from timestamps).
//
// A vCPU runs only while it holds a pCPU token. Run time is charged from
// timestamps at every accounting point (vcpuCheck, block, yield, tick, and
// whenever the core takes the pCPU away), in nanoseconds: credit is kept in
// ns too (1 credit = 100 us), so nothing is sampled and nothing rounds.
// One global run queue with a FIFO list per priority (BOOST, UNDER, OVER).
// Invariant (work conservation): the queue is non-empty only while every
// pCPU is held.
import {
  ACCT_NS, DEFAULT_WEIGHT, PRI_BOOST, PRI_OVER, PRI_UNDER, SLICE_NS,
  V_DEAD, V_PARK, V_RUN,
} from './abi';
import {
  D_CAP, D_DYING, D_NEXT, D_NRVCPUS, D_PAUSE, D_PRIV, D_SHUTDOWN, D_WEIGHT, D_ACTIVE,
  H_LASTACCT, H_LIVEHEAD, H_QUEUED, H_RQHEAD, H_RQTAIL, H_TICKS, H_LASTTICK,
  P_CUR, P_PREEMPT, P_SLICE,
  VC_BLOCKED, VC_CPUTIME, VC_CREDIT, VC_EXISTS, VC_LAST, VC_LASTPCPU, VC_ONLINE, VC_PARKED,
  VC_PCPU, VC_PERIOD, VC_PRI, VC_QLIST, VC_QNEXT, VC_QPREV,
  domAddr, hostKick, hostNow, maxVcpus, nrCpus, pcpuAddr, vcpuAddr,
} from './state';

// ---------------------------------------------------------------- helpers

function domOf(gid: i32): i32 { return gid / maxVcpus(); }
function idxOf(gid: i32): i32 { return gid % maxVcpus(); }

function kick(gid: i32, pcpu: i32): void { hostKick(domOf(gid), idxOf(gid), pcpu); }

/** The domain may not run at all: shut down or dying. */
export function domDead(da: usize): bool {
  return load<u8>(da + D_SHUTDOWN) != 0 || load<u8>(da + D_DYING) != 0;
}

/** Should this vCPU hold or wait for a pCPU? Domain-0's vCPUs are the host itself: never scheduled. */
function eligible(gid: i32): bool {
  const va = vcpuAddr(gid);
  if (load<u8>(va + VC_EXISTS) == 0 || load<u8>(va + VC_ONLINE) == 0) return false;
  if (load<u8>(va + VC_BLOCKED) != 0 || load<u8>(va + VC_PARKED) != 0) return false;
  const da = domAddr(domOf(gid));
  if (load<u8>(da + D_PRIV) != 0) return false;
  if (load<i32>(da + D_PAUSE) > 0) return false;
  return !domDead(da);
}

/** Charge a pCPU holder for the time since it was last charged. */
export function account(gid: i32, now: i64): void {
  const va = vcpuAddr(gid);
  if (load<i32>(va + VC_PCPU) < 0) return;
  const d = now - load<i64>(va + VC_LAST);
  if (d <= 0) return;
  store<i64>(va + VC_CPUTIME, load<i64>(va + VC_CPUTIME) + d);
  store<i64>(va + VC_CREDIT, load<i64>(va + VC_CREDIT) - d);
  store<i64>(va + VC_PERIOD, load<i64>(va + VC_PERIOD) + d);
  store<i64>(va + VC_LAST, now);
}

/** UNDER/OVER from credit; BOOST sticks until the next tick while running. */
function creditPri(va: usize): i32 {
  if (load<i32>(va + VC_PRI) == PRI_BOOST) return PRI_BOOST;
  return load<i64>(va + VC_CREDIT) >= 0 ? PRI_UNDER : PRI_OVER;
}

/** Per-vCPU credit a capped domain may run behind before it is parked. */
function capShare(da: usize): i64 {
  let n = load<i32>(da + D_NRVCPUS);
  if (n < 1) n = 1;
  return <i64>load<i32>(da + D_CAP) * SLICE_NS / 100 / <i64>n;
}

function overCap(gid: i32): bool {
  const da = domAddr(domOf(gid));
  if (load<i32>(da + D_CAP) == 0) return false;
  return load<i64>(vcpuAddr(gid) + VC_CREDIT) < -capShare(da);
}

// ---------------------------------------------------------------- run queue

function rqPush(gid: i32): void {
  const va = vcpuAddr(gid);
  const li = -load<i32>(va + VC_PRI);
  const tailp = H_RQTAIL + <usize>li * 4;
  const tail = load<i32>(tailp);
  store<i32>(va + VC_QLIST, li);
  store<i32>(va + VC_QNEXT, -1);
  store<i32>(va + VC_QPREV, tail);
  if (tail >= 0) store<i32>(vcpuAddr(tail) + VC_QNEXT, gid);
  else store<i32>(H_RQHEAD + <usize>li * 4, gid);
  store<i32>(tailp, gid);
  store<i32>(H_QUEUED, load<i32>(H_QUEUED) + 1);
}

function rqRemove(gid: i32): void {
  const va = vcpuAddr(gid);
  const li = load<i32>(va + VC_QLIST);
  if (li < 0) return;
  const next = load<i32>(va + VC_QNEXT);
  const prev = load<i32>(va + VC_QPREV);
  if (prev >= 0) store<i32>(vcpuAddr(prev) + VC_QNEXT, next);
  else store<i32>(H_RQHEAD + <usize>li * 4, next);
  if (next >= 0) store<i32>(vcpuAddr(next) + VC_QPREV, prev);
  else store<i32>(H_RQTAIL + <usize>li * 4, prev);
  store<i32>(va + VC_QLIST, -1);
  store<i32>(H_QUEUED, load<i32>(H_QUEUED) - 1);
}

/** Head of the best non-empty list, or -1. */
function rqBest(): i32 {
  for (let li = 0; li < 3; li++) {
    const h = load<i32>(H_RQHEAD + <usize>li * 4);
    if (h >= 0) return h;
  }
  return -1;
}

function bestWaitingPri(): i32 {
  const h = rqBest();
  return h < 0 ? i32.MIN_VALUE : load<i32>(vcpuAddr(h) + VC_PRI);
}

// ---------------------------------------------------------------- pCPU hand-over

function assign(gid: i32, p: i32, now: i64): void {
  const va = vcpuAddr(gid);
  const pa = pcpuAddr(p);
  store<i32>(pa + P_CUR, gid);
  store<i32>(pa + P_PREEMPT, 0);
  store<i64>(pa + P_SLICE, now);
  store<i32>(va + VC_PCPU, p);
  store<i32>(va + VC_LASTPCPU, p);
  store<i64>(va + VC_LAST, now);
  kick(gid, p);
}

/** Give an idle pCPU to the best waiting vCPU. */
function dispatch(p: i32, now: i64): void {
  const g = rqBest();
  if (g < 0) return;
  rqRemove(g);
  assign(g, p, now);
}

/** Take the pCPU from `gid` (charging it first) and hand it on. */
function release(gid: i32, now: i64): i32 {
  const va = vcpuAddr(gid);
  const p = load<i32>(va + VC_PCPU);
  if (p < 0) return -1;
  account(gid, now);
  store<i32>(va + VC_PCPU, -1);
  const pa = pcpuAddr(p);
  store<i32>(pa + P_CUR, -1);
  store<i32>(pa + P_PREEMPT, 0);
  dispatch(p, now);
  return p;
}

/** Ask the lowest-priority holder below `pri` to come to the scheduler. */
function preemptFor(pri: i32): void {
  let worst = -1;
  let worstPri = pri;
  const n = nrCpus();
  for (let p = 0; p < n; p++) {
    const pa = pcpuAddr(p);
    const g = load<i32>(pa + P_CUR);
    if (g < 0) continue;
    if (load<i32>(pa + P_PREEMPT) != 0) return; // one request in flight is enough
    const gp = load<i32>(vcpuAddr(g) + VC_PRI);
    if (gp < worstPri) { worstPri = gp; worst = p; }
  }
  if (worst < 0) return;
  const pa = pcpuAddr(worst);
  store<i32>(pa + P_PREEMPT, 1);
  kick(load<i32>(pa + P_CUR), worst);
}

/** An eligible vCPU that holds nothing: take an idle pCPU (its last one first) or queue. */
function place(gid: i32, now: i64): void {
  const va = vcpuAddr(gid);
  const n = nrCpus();
  const last = load<i32>(va + VC_LASTPCPU);
  let p = -1;
  if (last >= 0 && last < n && load<i32>(pcpuAddr(last) + P_CUR) < 0) p = last;
  else {
    for (let i = 0; i < n; i++) {
      if (load<i32>(pcpuAddr(i) + P_CUR) < 0) { p = i; break; }
    }
  }
  if (p >= 0) { assign(gid, p, now); return; }
  store<i32>(va + VC_PRI, creditPri(va));
  rqPush(gid);
  kick(gid, -1);
  preemptFor(load<i32>(va + VC_PRI));
}

/** Bring a vCPU's holding/queued state in line with its flags and its domain's. */
export function refresh(gid: i32, now: i64): void {
  const va = vcpuAddr(gid);
  const holds = load<i32>(va + VC_PCPU) >= 0;
  const queued = load<i32>(va + VC_QLIST) >= 0;
  if (eligible(gid)) {
    if (!holds && !queued) place(gid, now);
    return;
  }
  if (queued) rqRemove(gid);
  if (holds) {
    release(gid, now);
    kick(gid, -1); // its thread must notice it lost the pCPU
  }
}

export function refreshDomain(d: i32, now: i64): void {
  const n = load<i32>(domAddr(d) + D_NRVCPUS);
  const base = d * maxVcpus();
  for (let v = 0; v < n; v++) refresh(base + v, now);
}

/** Fresh vCPU record state for the scheduler. */
export function schedInitVcpu(gid: i32): void {
  const va = vcpuAddr(gid);
  store<i32>(va + VC_PCPU, -1);
  store<i32>(va + VC_LASTPCPU, -1);
  store<i32>(va + VC_QLIST, -1);
  store<i32>(va + VC_QNEXT, -1);
  store<i32>(va + VC_QPREV, -1);
  store<i32>(va + VC_PRI, PRI_UNDER);
  store<i64>(va + VC_CREDIT, 0);
}

export function schedInitDomain(da: usize): void {
  store<i32>(da + D_WEIGHT, DEFAULT_WEIGHT);
  store<i32>(da + D_CAP, 0);
}

// ---------------------------------------------------------------- calls from a vCPU's thread

/** Give the pCPU to the best waiter if it is at least as good as `gid` (which goes to the back of its list). */
function switchIfWaiting(gid: i32, p: i32, now: i64, strictly: bool): bool {
  const va = vcpuAddr(gid);
  const mine = creditPri(va);
  store<i32>(va + VC_PRI, mine);
  const best = bestWaitingPri();
  if (best == i32.MIN_VALUE) return false;
  if (strictly ? best <= mine : best < mine) return false;
  store<i32>(va + VC_PCPU, -1);
  const pa = pcpuAddr(p);
  store<i32>(pa + P_CUR, -1);
  store<i32>(pa + P_PREEMPT, 0);
  dispatch(p, now);
  rqPush(gid);
  return true;
}

export function schedCheck(gid: i32, da: usize): i32 {
  if (domDead(da)) return V_DEAD;
  const va = vcpuAddr(gid);
  const p = load<i32>(va + VC_PCPU);
  if (p < 0) return V_PARK;
  const now = hostNow();
  account(gid, now);
  if (overCap(gid)) {
    store<u8>(va + VC_PARKED, 1);
    release(gid, now);
    return V_PARK;
  }
  const pa = pcpuAddr(p);
  const expired = now - load<i64>(pa + P_SLICE) >= SLICE_NS;
  if (expired || load<i32>(pa + P_PREEMPT) != 0) {
    store<i32>(pa + P_PREEMPT, 0);
    if (switchIfWaiting(gid, p, now, !expired)) return V_PARK;
    if (expired) store<i64>(pa + P_SLICE, now);
  }
  return V_RUN;
}

export function schedMayRun(gid: i32, da: usize): bool {
  if (domDead(da)) return false;
  return load<i32>(vcpuAddr(gid) + VC_PCPU) >= 0;
}

export function schedBlock(gid: i32, now: i64): void {
  store<u8>(vcpuAddr(gid) + VC_BLOCKED, 1);
  refresh(gid, now);
}

/** blocked -> runnable; BOOST if it wakes UNDER (sched_credit's wake rule). */
export function schedWake(gid: i32, now: i64): void {
  const va = vcpuAddr(gid);
  if (load<u8>(va + VC_BLOCKED) == 0) return;
  store<u8>(va + VC_BLOCKED, 0);
  if (load<u8>(va + VC_PARKED) == 0 && load<i64>(va + VC_CREDIT) >= 0) store<i32>(va + VC_PRI, PRI_BOOST);
  refresh(gid, now);
}

export function schedYield(gid: i32, now: i64): void {
  const va = vcpuAddr(gid);
  const p = load<i32>(va + VC_PCPU);
  if (p < 0) return;
  account(gid, now);
  if (load<i32>(va + VC_PRI) == PRI_BOOST) store<i32>(va + VC_PRI, PRI_UNDER);
  switchIfWaiting(gid, p, now, false);
}

// ---------------------------------------------------------------- tick and accounting

/** Credit for one elapsed period: pCPU time split by weight among active domains (sched_credit's csched_acct). */
function accounting(elapsed: i64, now: i64): void {
  const mv = maxVcpus();
  let weightLeft: i64 = 0;
  let d = load<i32>(H_LIVEHEAD);
  while (d >= 0) {
    const da = domAddr(d);
    let active = 0;
    if (load<u8>(da + D_PRIV) == 0) {
      const n = load<i32>(da + D_NRVCPUS);
      for (let v = 0; v < n; v++) {
        const g = d * mv + v;
        const va = vcpuAddr(g);
        if (load<i64>(va + VC_PERIOD) > 0 || eligible(g) || load<u8>(va + VC_PARKED) != 0) active++;
      }
    }
    store<i32>(da + D_ACTIVE, active);
    if (active > 0) weightLeft += <i64>load<i32>(da + D_WEIGHT);
    d = load<i32>(da + D_NEXT);
  }
  let creditLeft: i64 = <i64>nrCpus() * elapsed;
  d = load<i32>(H_LIVEHEAD);
  while (d >= 0) {
    const da = domAddr(d);
    const active = load<i32>(da + D_ACTIVE);
    if (active > 0) {
      const w = <i64>load<i32>(da + D_WEIGHT);
      let fair = weightLeft > 0 ? (creditLeft * w + weightLeft - 1) / weightLeft : 0;
      const most = <i64>active * elapsed;
      if (fair > most) fair = most;
      const cap = load<i32>(da + D_CAP);
      if (cap > 0) {
        const capped = (<i64>cap * elapsed + 99) / 100;
        if (fair > capped) fair = capped;
      }
      if (fair > creditLeft) fair = creditLeft;
      creditLeft -= fair;
      weightLeft -= w;
      const each = fair / <i64>active;
      const n = load<i32>(da + D_NRVCPUS);
      for (let v = 0; v < n; v++) {
        const g = d * mv + v;
        const va = vcpuAddr(g);
        if (!(load<i64>(va + VC_PERIOD) > 0 || eligible(g) || load<u8>(va + VC_PARKED) != 0)) continue;
        let c = load<i64>(va + VC_CREDIT) + each;
        if (c < -SLICE_NS) c = -SLICE_NS;
        if (c > SLICE_NS) c = SLICE_NS;
        store<i64>(va + VC_CREDIT, c);
        if (load<i32>(va + VC_PRI) != PRI_BOOST) {
          const np = c >= 0 ? PRI_UNDER : PRI_OVER;
          if (np != load<i32>(va + VC_PRI)) {
            store<i32>(va + VC_PRI, np);
            if (load<i32>(va + VC_QLIST) >= 0) { rqRemove(g); rqPush(g); }
          }
        }
        if (load<u8>(va + VC_PARKED) != 0) {
          if (c >= 0 || cap == 0) { store<u8>(va + VC_PARKED, 0); refresh(g, now); }
        } else if (cap > 0 && c < -capShare(da)) {
          store<u8>(va + VC_PARKED, 1);
          refresh(g, now);
        }
      }
    }
    // The period restarts for everyone, active or not.
    const n2 = load<i32>(da + D_NRVCPUS);
    for (let v = 0; v < n2; v++) store<i64>(vcpuAddr(d * mv + v) + VC_PERIOD, 0);
    d = load<i32>(da + D_NEXT);
  }
}

/** The 10 ms tick: charge every holder, end boosts, accounting every 30 ms, preempt where a slice is over or a better vCPU waits. */
export function schedTick(now: i64): void {
  store<i32>(H_TICKS, load<i32>(H_TICKS) + 1);
  store<i64>(H_LASTTICK, now);
  const n = nrCpus();
  for (let p = 0; p < n; p++) {
    const g = load<i32>(pcpuAddr(p) + P_CUR);
    if (g < 0) continue;
    account(g, now);
    const va = vcpuAddr(g);
    if (load<i32>(va + VC_PRI) == PRI_BOOST) store<i32>(va + VC_PRI, PRI_UNDER);
    store<i32>(va + VC_PRI, creditPri(va));
    if (overCap(g)) { store<u8>(va + VC_PARKED, 1); refresh(g, now); }
  }
  const last = load<i64>(H_LASTACCT);
  if (now - last >= ACCT_NS) {
    // A late timer still hands out exactly the time that passed (capped at a few periods).
    let elapsed = now - last;
    if (elapsed > 4 * ACCT_NS) elapsed = 4 * ACCT_NS;
    accounting(elapsed, now);
    store<i64>(H_LASTACCT, now);
  }
  if (load<i32>(H_QUEUED) == 0) return;
  const best = bestWaitingPri();
  for (let p = 0; p < n; p++) {
    const pa = pcpuAddr(p);
    const g = load<i32>(pa + P_CUR);
    if (g < 0) continue;
    if (load<i32>(pa + P_PREEMPT) != 0) continue;
    const mine = load<i32>(vcpuAddr(g) + VC_PRI);
    const expired = now - load<i64>(pa + P_SLICE) >= SLICE_NS;
    if (best > mine || (expired && best >= mine)) {
      store<i32>(pa + P_PREEMPT, 1);
      kick(g, p);
    }
  }
}

/** CPU time so far, including the run in progress (read-only). */
export function cpuTimeNow(gid: i32, now: i64): i64 {
  const va = vcpuAddr(gid);
  let t = load<i64>(va + VC_CPUTIME);
  if (load<i32>(va + VC_PCPU) >= 0) {
    const d = now - load<i64>(va + VC_LAST);
    if (d > 0) t += d;
  }
  return t;
}

export function schedBoot(now: i64): void {
  for (let li = 0; li < 3; li++) {
    store<i32>(H_RQHEAD + <usize>li * 4, -1);
    store<i32>(H_RQTAIL + <usize>li * 4, -1);
  }
  store<i32>(H_QUEUED, 0);
  const n = nrCpus();
  for (let p = 0; p < n; p++) {
    store<i32>(pcpuAddr(p) + P_CUR, -1);
    store<i32>(pcpuAddr(p) + P_PREEMPT, 0);
  }
  store<i64>(H_LASTACCT, now);
  store<i64>(H_LASTTICK, now);
}

// Daemons started by a supervisor of ours (xencommons, a test, a benchmark)
// should not outlive it: a SIGKILLed supervisor runs no exit handler, and
// its daemons would keep the state folder busy forever. Linux would say
// this with prctl(PR_SET_PDEATHSIG), which Node does not offer; instead the
// supervisor names itself in XEN_PARENT_PID and the daemon stops, as on
// SIGTERM, once it has been given another parent (the supervisor is gone).
// Without the variable nothing is watched: a daemon run from a shell or by
// systemd stays up whoever its parent becomes.

export const PARENT_PID_ENV = 'XEN_PARENT_PID';

// Our parent as this module first saw it, at start-up. A daemon calls
// watchParent only once it is ready, and its supervisor may be killed the
// moment it reads "ready": asking process.ppid then would find the new
// parent and wrongly conclude the variable was never meant for us.
const parentAtStart = process.ppid;

export interface ParentWatch {
  stop(): void;
}

/** The environment that makes a child started with it stop when this process is gone. */
export function parentWatchEnv(pid = process.pid): Record<string, string> {
  return { [PARENT_PID_ENV]: String(pid) };
}

const exists = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Calls `onGone` once when this process's parent is no longer the one
 * named in $XEN_PARENT_PID; undefined when the variable is not set, or
 * names a live process other than our parent at start-up (then it was
 * inherited from further up, and is not ours to act on). A named process
 * that is already gone when we look means the supervisor died while we
 * were starting: `onGone` runs at once.
 */
export function watchParent(onGone: () => void, opts: { env?: NodeJS.ProcessEnv; intervalMs?: number } = {}): ParentWatch | undefined {
  const env = opts.env ?? process.env;
  const want = Number(env[PARENT_PID_ENV]);
  if (!env[PARENT_PID_ENV] || !Number.isInteger(want) || want <= 0) return undefined;
  if (parentAtStart !== want && exists(want)) return undefined;
  let watching = true;
  const check = () => {
    if (!watching || process.ppid === want) return;
    stop();
    onGone();
  };
  const stop = () => {
    watching = false;
    clearInterval(timer);
  };
  const timer = setInterval(check, opts.intervalMs ?? 500);
  // Never what keeps a stopping daemon alive.
  timer.unref();
  setImmediate(check);
  return { stop };
}

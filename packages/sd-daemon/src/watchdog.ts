// The service watchdog (WatchdogSec=): systemd sets WATCHDOG_USEC (and
// WATCHDOG_PID) and expects WATCHDOG=1 at least that often. Pinging from a
// timer on the event loop means a daemon whose loop hangs is restarted.

import { notify, type NotifyOptions } from './notify.js';

/** The watchdog period in microseconds, if systemd asked this process for pings (sd_watchdog_enabled). */
export function watchdogUsec(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
  return usec;
}

export interface Watchdog {
  /** Milliseconds between pings. */
  intervalMs: number;
  stop(): void;
}

/** Ping at half the period (as sd_watchdog_enabled(3) advises); undefined when no watchdog is set. */
export function startWatchdog(opts: NotifyOptions = {}): Watchdog | undefined {
  const usec = watchdogUsec(opts.env);
  if (usec === undefined) return undefined;
  const intervalMs = Math.max(1, Math.floor(usec / 2000));
  const ping = () => void notify('WATCHDOG=1', opts);
  ping();
  const timer = setInterval(ping, intervalMs);
  // The watchdog never keeps a stopping daemon alive.
  timer.unref();
  return { intervalMs, stop: () => clearInterval(timer) };
}

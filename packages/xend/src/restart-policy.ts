// What xend does when a domain stops (XendDomainInfo.refreshShutdown and
// _restart): a pure decision from the hypervisor's view of the domain and its
// config, so the policy can be read and tested apart from the mechanics.

import type { DomainConfig, RestartMode } from './sxp-config.js';
import { MINIMUM_RESTART_TIME, SHUTDOWN_REASONS } from './xend-constants.js';

/** The libxc flags the decision needs. */
export interface ExitFlags {
  dying: boolean;
  crashed: boolean;
  shutdown: boolean;
  shutdown_reason: number;
}

export type ShutdownAction =
  | { kind: 'none' }
  /** Dying or gone: only the bookkeeping is left. */
  | { kind: 'cleanup' }
  /** Shut down with `suspend`: the domain stays until a save finishes with it. */
  | { kind: 'suspended' }
  | { kind: 'destroy'; reason: string }
  | { kind: 'preserve'; reason: string }
  | { kind: 'restart'; reason: string; rename: boolean };

export function shutdownReasonName(flags: ExitFlags): string {
  if (flags.crashed) return 'crash';
  return SHUTDOWN_REASONS[flags.shutdown_reason] ?? String(flags.shutdown_reason);
}

/** The configured mode for a reason (poweroff/halt -> on_poweroff, reboot -> on_reboot, crash -> on_crash). */
export function modeFor(config: DomainConfig, reason: string): RestartMode | undefined {
  switch (reason) {
    case 'poweroff': case 'halt': return config.onPoweroff;
    case 'reboot': return config.onReboot;
    case 'crash': return config.onCrash;
    default: return undefined;
  }
}

/** refreshShutdown: libxc state -> action. `undefined` flags means the domain is gone. */
export function decideShutdown(flags: ExitFlags | undefined, config: DomainConfig): ShutdownAction {
  if (!flags || flags.dying) return { kind: 'cleanup' };
  if (!flags.crashed && !flags.shutdown) return { kind: 'none' };
  const reason = shutdownReasonName(flags);
  if (reason === 'suspend') return { kind: 'suspended' };
  const mode = modeFor(config, reason);
  switch (mode) {
    case 'preserve': return { kind: 'preserve', reason };
    case 'restart': return { kind: 'restart', reason, rename: false };
    case 'rename-restart': return { kind: 'restart', reason, rename: true };
    // destroy, and anything unknown (Xen falls back to destroy).
    default: return { kind: 'destroy', reason };
  }
}

/**
 * The restart guard: refuse when the previous restart was less than
 * MINIMUM_RESTART_TIME ago. Returns the refusal message, or undefined to go ahead.
 */
export function restartRefusal(name: string, now: number, previousRestartTime: number | undefined, inProgress = false): string | undefined {
  if (inProgress) return `VM ${name} restart is already in progress; refusing a second one`;
  if (previousRestartTime === undefined) return undefined;
  const since = now - previousRestartTime;
  if (since < MINIMUM_RESTART_TIME) {
    return `VM ${name} restarting too fast (${since.toFixed(6)} seconds since the last restart).  Refusing to restart to avoid loops.`;
  }
  return undefined;
}

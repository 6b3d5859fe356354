// xend's constants (XendConstants.py, XendDomainInfo.py), in one place.

/** Shutdown reason codes of sched_op shutdown and xend's names for them. */
export const SHUTDOWN_REASONS: Record<number, string> = { 0: 'poweroff', 1: 'reboot', 2: 'suspend', 3: 'crash', 4: 'halt' };
export const SHUTDOWN_CODES: Record<string, number> = { poweroff: 0, reboot: 1, suspend: 2, crash: 3, halt: 4 };

/** xend's numeric domain states (DOM_STATES) and the power-state names they map to. */
export const DOM_STATE = { HALTED: 0, PAUSED: 1, RUNNING: 2, SUSPENDED: 3, SHUTDOWN: 4, UNKNOWN: 5 } as const;
export const POWER_STATE_NAMES = ['Halted', 'Paused', 'Running', 'Suspended', 'Halted', 'Unknown'] as const;

/** A restart sooner than this after the previous one is refused (seconds). */
export const MINIMUM_RESTART_TIME = 20;
/** After this long without the guest shutting down, xend marks it unresponsive (seconds). */
export const SHUTDOWN_TIMEOUT = 300;

/** The domain-exception VIRQ: the hypervisor raises it on dom0 when a domain shuts down, crashes or dies. */
export const VIRQ_DOM_EXC = 3;

export const DOM0_ID = 0;
export const DOM0_NAME = 'Domain-0';
export const DOM0_UUID = '00000000-0000-0000-0000-000000000000';

/** xm info's xend_config_format. */
export const XEND_CONFIG_FORMAT = 4;

/** Largest domain listing asked of libxc in one call. */
export const GETINFO_MAX = 4096;

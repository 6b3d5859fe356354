// SIGHUP (systemd's ExecReload): read xend-config.sxp again without
// touching the domains. What can change in place does (the log file and
// level, which also lets logrotate move xend.log away; console-limit for
// domains built from now on); what needs the listeners or paths rebuilt is
// named in the log as waiting for a restart. A file that no longer parses
// leaves the running configuration as it was.

import { readXendConfig, type XendOptions } from './xend-config.js';
import type { XendLog } from './xend-log.js';

/** Keys a reload applies at once; every other changed key waits for a restart. */
export const RELOADABLE_KEYS = ['logfile', 'loglevel', 'console-limit'] as const;

export interface ReloadResult {
  ok: boolean;
  /** Keys whose new value is in force. */
  applied: string[];
  /** Keys whose new value waits for a restart of xend. */
  needRestart: string[];
  error?: string;
}

export interface Reloadable {
  stateDir: string;
  options: XendOptions;
  log: XendLog;
  /** The domain table's context: console-limit is read from here at each build. */
  ctx: { consoleLimitKiB: number };
}

export async function reloadXendConfig(d: Reloadable): Promise<ReloadResult> {
  let next: XendOptions;
  try {
    next = await readXendConfig(d.stateDir);
  } catch (e) {
    const error = (e as Error).message;
    d.log.error('XendOptions', `reload: keeping the running configuration: ${error}`);
    return { ok: false, applied: [], needRestart: [], error };
  }
  const prev = d.options;
  const changed = [...next.values.keys()].filter((k) => JSON.stringify(prev.get(k)) !== JSON.stringify(next.get(k)));
  // Reopened even when unchanged: after logrotate the same name is a new file.
  d.log.reopen(next.logfile || undefined, next.loglevel);
  d.ctx.consoleLimitKiB = next.consoleLimit;
  d.options = next;
  const applied = changed.filter((k) => (RELOADABLE_KEYS as readonly string[]).includes(k));
  const needRestart = changed.filter((k) => !applied.includes(k));
  for (const w of next.warnings) d.log.warn('XendOptions', w);
  d.log.info('XendOptions', `reloaded ${next.file}: ${changed.length ? `changed ${changed.join(', ')}` : 'no change'}`);
  if (needRestart.length) d.log.warn('XendOptions', `restart xend for ${needRestart.join(', ')} to take effect`);
  return { ok: true, applied, needRestart };
}

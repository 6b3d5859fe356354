// xend's log: every line on stderr (the daemon convention) and appended to
// xend-config.sxp's logfile, which `xm log` (xend.node.log) reads back.

import fs from 'node:fs';
import path from 'node:path';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

export class XendLog {
  private fd: number | undefined;
  private min: number;

  constructor(public file: string | undefined, level = 'DEBUG', private readonly stderr = true) {
    this.min = RANK[(level.toUpperCase() as LogLevel)] ?? RANK.DEBUG;
    if (file) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      this.fd = fs.openSync(file, 'a', 0o600);
    }
  }

  private write(level: LogLevel, where: string, msg: string): void {
    if (RANK[level] < this.min) return;
    const d = new Date();
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    const stamp = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    const line = `[${stamp} ${process.pid}] ${level} (${where}) ${msg}\n`;
    if (this.fd !== undefined) {
      try {
        fs.writeSync(this.fd, line);
      } catch {
        // A full disk must not stop domain management.
      }
    }
    if (this.stderr) process.stderr.write(`xend: ${level} (${where}) ${msg}\n`);
  }

  debug(where: string, msg: string): void { this.write('DEBUG', where, msg); }
  info(where: string, msg: string): void { this.write('INFO', where, msg); }
  warn(where: string, msg: string): void { this.write('WARNING', where, msg); }
  error(where: string, msg: string): void { this.write('ERROR', where, msg); }

  /** The log file's contents (xend.node.log). */
  read(): string {
    if (!this.file) return '';
    try {
      return fs.readFileSync(this.file, 'utf8');
    } catch {
      return '';
    }
  }

  /** Open the log file again, perhaps another one at another level (SIGHUP: config reload, logrotate). */
  reopen(file: string | undefined, level = 'DEBUG'): void {
    let fd: number | undefined;
    if (file) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fd = fs.openSync(file, 'a', 0o600);
    }
    this.close();
    this.fd = fd;
    this.file = file;
    this.min = RANK[(level.toUpperCase() as LogLevel)] ?? RANK.DEBUG;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

// The abort handler for `asc --use abort=...`: prints where, then traps (a trap
// is a crash: SHUTDOWN_crash). The PV ABI has no env.abort import.
import { printk } from "./console";

export function xen_abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const m = message === null ? "abort" : message;
  const f = fileName === null ? "?" : fileName;
  printk("abort: " + m + " at " + f + ":" + line.toString() + ":" + column.toString());
  unreachable();
}

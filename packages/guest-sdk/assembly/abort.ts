// The abort handler for `asc --use abort=...`: prints where, then traps (a trap
// is a crash: SHUTDOWN_crash). The PV ABI has no env.abort import. It writes
// through console_io only: the allocator reaches it from every module's
// top-level code, so it must not pull in the console ring driver (whose
// globals would then be used before they are declared).
import { hypercall, __HYPERVISOR_console_io } from "./xen";

export function xen_abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const m = message === null ? "abort" : message;
  const f = fileName === null ? "?" : fileName;
  const buf = String.UTF8.encode("abort: " + m + " at " + f + ":" + line.toString() + ":" + column.toString() + "\n", false);
  hypercall(__HYPERVISOR_console_io, 0, buf.byteLength, <i32>changetype<usize>(buf), 0, 0);
  unreachable();
}

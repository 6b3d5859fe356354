// Console output. printk goes to the PV console ring (xenconsoled: the
// domain's log and `xm console`) once the toolstack gave the domain one, and
// is mirrored to console_io (the hypervisor's console, `xm dmesg`), the early
// and debug path, unless the guest turns the mirror off.
import { hypercall, __HYPERVISOR_console_io } from "./xen";
import { xencons_ready, xencons_write } from "./xencons";

export const CONSOLEIO_write: i32 = 0;
export const CONSOLEIO_read: i32 = 1;

let mirror: bool = true;

/** Whether printk also writes to the hypervisor console (default true). */
export function console_set_mirror(on: bool): void { mirror = on; }

/** Writes raw bytes through console_io only; returns the hypercall result. */
export function console_write_bytes(ptr: usize, len: i32): i32 {
  return hypercall(__HYPERVISOR_console_io, CONSOLEIO_write, len, <i32>ptr, 0, 0);
}

/** Writes raw bytes to the console ring (and the mirror); returns bytes written. */
export function console_out(ptr: usize, len: i32): i32 {
  if (!xencons_ready()) return console_write_bytes(ptr, len);
  if (mirror) console_write_bytes(ptr, len);
  return xencons_write(ptr, len);
}

/** Writes a string as UTF-8, no newline added. */
export function console_write(s: string): i32 {
  const buf = String.UTF8.encode(s, false);
  return console_out(changetype<usize>(buf), buf.byteLength);
}

/** Writes one line (a newline is appended). Allocates: avoid in hot loops. */
export function printk(s: string): i32 {
  return console_write(s + "\n");
}

// Console output through console_io (CONSOLEIO_write), which lands in the
// hypervisor's console (xm dmesg) and the domain's console log.
import { hypercall, __HYPERVISOR_console_io } from "./xen";

export const CONSOLEIO_write: i32 = 0;
export const CONSOLEIO_read: i32 = 1;

/** Writes raw bytes; returns the hypercall result. */
export function console_write_bytes(ptr: usize, len: i32): i32 {
  return hypercall(__HYPERVISOR_console_io, CONSOLEIO_write, len, <i32>ptr, 0, 0);
}

/** Writes a string as UTF-8, no newline added. */
export function console_write(s: string): i32 {
  const buf = String.UTF8.encode(s, false);
  return console_write_bytes(changetype<usize>(buf), buf.byteLength);
}

/** Writes one line (a newline is appended). Allocates: avoid in hot loops. */
export function printk(s: string): i32 {
  return console_write(s + "\n");
}

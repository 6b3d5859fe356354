// start_info (pfn 2) accessors, 32-bit layout.
import { START_INFO_ADDR, SHARED_INFO_ADDR } from "./xen";

export const SIF_PRIVILEGED: u32 = 1;
export const SIF_INITDOMAIN: u32 = 2;
export const MAX_GUEST_CMDLINE: i32 = 1024;

// Set by xen_init(); a global, so it survives a move of a blocked vCPU.
let startInfo: u32 = START_INFO_ADDR;
let sharedInfo: u32 = SHARED_INFO_ADDR;

/** Call first in xen_start with its argument. */
export function xen_init(start_info: u32): void {
  startInfo = start_info;
  const si = load<u32>(start_info, 36);
  if (si != 0) sharedInfo = si;
}

export function start_info_addr(): u32 { return startInfo; }
export function shared_info_addr(): u32 { return sharedInfo; }

/** "xen-3.0-wasm32" when the builder filled start_info. */
export function start_info_magic(): string {
  return cstring(startInfo, 32);
}
export function nr_pages(): u32 { return load<u32>(startInfo, 32); }
export function start_flags(): u32 { return load<u32>(startInfo, 40); }
export function store_mfn(): u32 { return load<u32>(startInfo, 44); }
export function store_evtchn(): u32 { return load<u32>(startInfo, 48); }
export function console_mfn(): u32 { return load<u32>(startInfo, 52); }
export function console_evtchn(): u32 { return load<u32>(startInfo, 56); }
export function cmd_line_addr(): u32 { return startInfo + 80; }
/** The command line (the domain's `extra=`), decoded as UTF-8. */
export function cmdline(): string { return cstring(startInfo + 80, MAX_GUEST_CMDLINE); }

/** A NUL-terminated string of at most max bytes at addr. */
export function cstring(addr: u32, max: i32): string {
  let n = 0;
  while (n < max && load<u8>(addr + <u32>n) != 0) n++;
  return String.UTF8.decodeUnsafe(<usize>addr, <usize>n, false);
}

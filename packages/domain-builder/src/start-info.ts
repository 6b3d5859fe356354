// Fills the ABI pages of a new domain's memory: start_info (pfn 2) and a
// clean shared_info (pfn 1), with the 32-bit layouts of docs/pv-abi.md.
import { XenError } from '@xenwasm/xen-errno';
import {
  SHARED_INFO_ADDR, START_INFO_ADDR, START_INFO_MAGIC, SI_MAGIC, SI_NR_PAGES, SI_SHARED_INFO, SI_FLAGS,
  SI_STORE_MFN, SI_STORE_EVTCHN, SI_CONSOLE_MFN, SI_CONSOLE_EVTCHN, SI_CMD_LINE, MAX_GUEST_CMDLINE,
  XENSTORE_RING_PFN, CONSOLE_RING_PFN, XEN_PAGE_SIZE, VCPU_INFO_SIZE, VI_TIME,
} from './abi.js';

export interface StartInfoFields {
  /** tot_pages in 4 KiB pages (default: the memory's current size). */
  nrPages?: number;
  flags?: number;
  storeMfn?: number;
  storeEvtchn?: number;
  consoleMfn?: number;
  consoleEvtchn?: number;
  cmdline?: string;
}

/** Writes start_info; returns its address (the argument of xen_start). */
export function writeStartInfo(memory: WebAssembly.Memory, f: StartInfoFields): number {
  const cmd = new TextEncoder().encode(f.cmdline ?? '');
  if (cmd.byteLength >= MAX_GUEST_CMDLINE) {
    throw new XenError('E2BIG', `command line is ${cmd.byteLength} bytes, the ABI allows ${MAX_GUEST_CMDLINE - 1}`);
  }
  const page = new Uint8Array(memory.buffer, START_INFO_ADDR, XEN_PAGE_SIZE);
  page.fill(0);
  page.set(new TextEncoder().encode(START_INFO_MAGIC), SI_MAGIC);
  const dv = new DataView(memory.buffer, START_INFO_ADDR, XEN_PAGE_SIZE);
  dv.setUint32(SI_NR_PAGES, f.nrPages ?? memory.buffer.byteLength / XEN_PAGE_SIZE, true);
  dv.setUint32(SI_SHARED_INFO, SHARED_INFO_ADDR, true);
  dv.setUint32(SI_FLAGS, f.flags ?? 0, true);
  dv.setUint32(SI_STORE_MFN, f.storeMfn ?? XENSTORE_RING_PFN, true);
  dv.setUint32(SI_STORE_EVTCHN, f.storeEvtchn ?? 0, true);
  dv.setUint32(SI_CONSOLE_MFN, f.consoleMfn ?? CONSOLE_RING_PFN, true);
  dv.setUint32(SI_CONSOLE_EVTCHN, f.consoleEvtchn ?? 0, true);
  page.set(cmd, SI_CMD_LINE);
  return START_INFO_ADDR;
}

/** Zeroes shared_info and sets each vCPU's time scale (rdtsc counts ns, see pv-abi.md). */
export function initSharedInfo(memory: WebAssembly.Memory, nrVcpus = 1): void {
  new Uint8Array(memory.buffer, SHARED_INFO_ADDR, XEN_PAGE_SIZE).fill(0);
  const dv = new DataView(memory.buffer, SHARED_INFO_ADDR, XEN_PAGE_SIZE);
  for (let v = 0; v < nrVcpus; v++) {
    // rdtsc already counts ns; 1:1 as Xen's formula ((d << shift) * mul) >> 32
    // needs mul 2^32, which a u32 cannot hold, so: shift 1, mul 2^31.
    dv.setUint32(v * VCPU_INFO_SIZE + VI_TIME + 24, 0x80000000, true);
    dv.setInt8(v * VCPU_INFO_SIZE + VI_TIME + 28, 1);
  }
}

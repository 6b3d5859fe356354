// The PV domain builder (libxc's xc_dom_* for Linux, here for wasm guests):
// rewrite the guest module, make its memory, and lay out start_info and
// shared_info the way docs/pv-abi.md says.
import fs from 'node:fs/promises';
import { HypercallError, ERRNO, XenError } from '@xenwasm/xen-errno';
import { RewriteCache, initSharedInfo, writeStartInfo } from '@xenwasm/domain-builder';
import type { XenCore } from '@xenwasm/hypervisor-wasm';
import * as A from './abi.js';

export interface PvBuildRequest {
  domid: number;
  kernel: string;
  cmdline?: string;
  memoryMb: number;
  maxMemoryMb?: number;
  storeEvtchn: number;
  consoleEvtchn: number;
}
export interface PvImage {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  storeMfn: number;
  consoleMfn: number;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

async function compileGuest(cache: RewriteCache, kernel: string, maxWasmPages: number): Promise<{ module: WebAssembly.Module; minPages: number }> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(kernel);
  } catch (e) {
    throw new XenError('ENOENT', `kernel image ${kernel}: ${(e as Error).message}`, { kernel });
  }
  const out = await cache.rewrite(bytes, { maxMemoryPages: maxWasmPages });
  const key = `${out.info.hash}:${maxWasmPages}`;
  let m = compiled.get(key);
  if (!m) {
    m = WebAssembly.compile(out.wasm as Uint8Array<ArrayBuffer>);
    compiled.set(key, m);
    m.catch(() => compiled.delete(key));
  }
  return { module: await m, minPages: out.info.initialMemoryPages ?? 2 };
}

export async function buildPv(core: XenCore, cache: RewriteCache, req: PvBuildRequest): Promise<PvImage> {
  if (!(req.memoryMb > 0)) throw new HypercallError(-ERRNO.EINVAL, 'linux_build: memory must be positive');
  const maxMb = Math.max(req.maxMemoryMb ?? req.memoryMb, req.memoryMb);
  if (maxMb > A.MAX_GUEST_MB) throw new HypercallError(-ERRNO.ENOMEM, `linux_build: a guest addresses at most ${A.MAX_GUEST_MB} MiB (one wasm32 memory), not ${maxMb} MiB`);
  const maxWasm = Math.floor((maxMb * 1024 * 1024) / A.WASM_PAGE);
  const { module, minPages } = await compileGuest(cache, req.kernel, maxWasm);
  const initial = Math.max(minPages, Math.ceil((req.memoryMb * 1024 * 1024) / A.WASM_PAGE), A.RESERVED_BYTES / A.WASM_PAGE);
  if (initial > maxWasm) throw new HypercallError(-ERRNO.ENOMEM, `linux_build: the guest needs ${initial * 64} KiB, more than maxmem`);
  const pages = initial * A.XEN_PAGES_PER_WASM_PAGE;
  core.setMaxMem(req.domid, maxWasm * 64);
  core.increaseReservation(req.domid, pages); // ENOMEM past the host's free pages
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial, maximum: maxWasm, shared: true });
  } catch (e) {
    core.decreaseReservation(req.domid, pages);
    throw new HypercallError(-ERRNO.ENOMEM, `linux_build: ${(e as Error).message}`);
  }
  initSharedInfo(memory, 1);
  writeStartInfo(memory, {
    nrPages: pages,
    storeMfn: A.PFN_XENSTORE,
    storeEvtchn: req.storeEvtchn,
    consoleMfn: A.PFN_CONSOLE,
    consoleEvtchn: req.consoleEvtchn,
    cmdline: req.cmdline ?? '',
  });
  return { module, memory, storeMfn: A.PFN_XENSTORE, consoleMfn: A.PFN_CONSOLE };
}

// Runs an unrewritten guest module directly in Node, without the hypervisor
// and without the builder's instrumentation: the baseline of
// cpu.guest_vs_direct.ratio. Console output is collected; shutdown ends the
// run; block/poll return at once (a direct run has no events).
import { ERRNO } from '@xenwasm/xen-errno';
import { writeStartInfo, initSharedInfo } from './start-info.js';
import { GuestExit } from './guest-instance.js';
import { HYPERVISOR_console_io, CONSOLEIO_write, SCHEDOP_shutdown, EXPORT_START } from './abi.js';

export interface DirectRunResult {
  console: string;
  /** Shutdown reason, or null if xen_start returned. */
  shutdownReason: number | null;
  ms: number;
}

export async function runDirect(wasm: Uint8Array | WebAssembly.Module, cmdline = ''): Promise<DirectRunResult> {
  const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>);
  let out = '';
  let memory: WebAssembly.Memory | null = null;
  const dec = new TextDecoder();
  const imports = {
    xen: {
      hypercall: (nr: number, a1: number, a2: number, a3: number): number => {
        if (nr === HYPERVISOR_console_io && a1 === CONSOLEIO_write) {
          out += dec.decode(new Uint8Array(memory!.buffer, a3 >>> 0, a2 >>> 0).slice());
          return a2;
        }
        return -ERRNO.ENOSYS;
      },
      sched_op: (cmd: number, arg: number): number => {
        if (cmd === SCHEDOP_shutdown) throw new GuestExit(new DataView(memory!.buffer).getUint32(arg >>> 0, true));
        return 0;
      },
      rdtsc: (): bigint => process.hrtime.bigint(),
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  initSharedInfo(memory);
  const si = writeStartInfo(memory, { cmdline });
  const t0 = performance.now();
  let shutdownReason: number | null = null;
  try {
    (instance.exports[EXPORT_START] as (a: number) => void)(si);
  } catch (e) {
    if (!(e instanceof GuestExit)) throw e;
    shutdownReason = e.reason as number;
  }
  return { console: out, shutdownReason, ms: performance.now() - t0 };
}

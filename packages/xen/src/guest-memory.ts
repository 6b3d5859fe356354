// Access to one domain's memory from the host side. Guest addresses are
// untrusted: every access is bounds-checked, and a bad one is -EFAULT for
// the guest, never an exception that escapes into the host.
import { HypercallError, ERRNO } from '@xenwasm/xen-errno';

export class GuestMemory {
  private u8!: Uint8Array;
  private dv!: DataView;
  constructor(readonly memory: WebAssembly.Memory) {
    this.refresh();
  }
  private refresh(): void {
    const buf = this.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
  }
  get byteLength(): number {
    if (this.u8.byteLength !== this.memory.buffer.byteLength) this.refresh();
    return this.u8.byteLength;
  }
  check(addr: number, len: number): void {
    if (!Number.isInteger(addr) || !Number.isInteger(len) || addr < 0 || len < 0 || addr + len > this.byteLength) {
      throw new HypercallError(-ERRNO.EFAULT, 'guest address', { addr, len });
    }
  }
  u32(addr: number): number {
    this.check(addr, 4);
    return this.dv.getUint32(addr, true);
  }
  u16(addr: number): number {
    this.check(addr, 2);
    return this.dv.getUint16(addr, true);
  }
  i16(addr: number): number {
    this.check(addr, 2);
    return this.dv.getInt16(addr, true);
  }
  u64(addr: number): bigint {
    this.check(addr, 8);
    return this.dv.getBigUint64(addr, true);
  }
  setU32(addr: number, v: number): void {
    this.check(addr, 4);
    this.dv.setUint32(addr, v >>> 0, true);
  }
  setU16(addr: number, v: number): void {
    this.check(addr, 2);
    this.dv.setUint16(addr, v & 0xffff, true);
  }
  setI16(addr: number, v: number): void {
    this.check(addr, 2);
    this.dv.setInt16(addr, v, true);
  }
  setU64(addr: number, v: bigint): void {
    this.check(addr, 8);
    this.dv.setBigUint64(addr, v, true);
  }
  bytes(addr: number, len: number): Uint8Array {
    this.check(addr, len);
    return this.u8.subarray(addr, addr + len);
  }
  write(addr: number, data: Uint8Array): void {
    this.check(addr, data.length);
    this.u8.set(data, addr);
  }
  cstring(addr: number, max: number): string {
    const b = this.bytes(addr, Math.min(max, this.byteLength - addr));
    const end = b.indexOf(0);
    return Buffer.from(end < 0 ? b : b.subarray(0, end)).toString('utf8');
  }
  /** Int32 view for Atomics on the shared buffer (re-made after growth). */
  i32(): Int32Array {
    return new Int32Array(this.memory.buffer);
  }
}

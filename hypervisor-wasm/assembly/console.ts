// The hypervisor console ring (what `xm dmesg` reads): a 64 KiB byte ring in
// shared memory with a free-running producer count; the oldest bytes are
// overwritten. Writers hold the global lock.
import { H_CONSBASE, H_CONSPROD, CONS_SIZE } from './state';

export function consPutByte(b: i32): void {
  const prod = load<u32>(H_CONSPROD);
  store<u8>(<usize>load<u32>(H_CONSBASE) + <usize>(prod & (CONS_SIZE - 1)), <u8>b);
  store<u32>(H_CONSPROD, prod + 1);
}

export function consPutStr(s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    consPutByte(c < 128 ? c : 63);
  }
}

export function consPutDec(n: i32): void {
  if (n < 0) { consPutByte(45); n = -n; }
  let div = 1;
  while (n / div >= 10) div *= 10;
  while (div > 0) {
    consPutByte(48 + (n / div) % 10);
    div /= 10;
  }
}

/** Append `len` bytes from `src` (the scratch area, filled by the wrapper). */
export function consWriteBytes(src: usize, len: i32): void {
  for (let i = 0; i < len; i++) consPutByte(<i32>load<u8>(src + <usize>i));
}

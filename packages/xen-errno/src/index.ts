// Xen's errno values (xen/include/public/errno.h follows Linux's numbering on
// x86) and the one error base class every package derives from: a stable
// machine code (the errno name) plus a message a user can read.

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  EOVERFLOW: 75,
  EISCONN: 106,
} as const;

export type ErrnoName = keyof typeof ERRNO;

const byValue = new Map<number, ErrnoName>(
  (Object.entries(ERRNO) as [ErrnoName, number][]).map(([k, v]) => [v, k]),
);

/** Name of an errno value (positive or negative), or `E<n>` if unknown. */
export function errnoName(value: number): string {
  return byValue.get(Math.abs(value)) ?? `E${Math.abs(value)}`;
}

export function isErrnoName(s: string): s is ErrnoName {
  return Object.prototype.hasOwnProperty.call(ERRNO, s);
}

/** Base of every error the project raises on purpose. */
export class XenError extends Error {
  /** Stable machine code: an errno name (`ESRCH`) or a module-specific code. */
  readonly code: string;
  readonly context: Record<string, unknown>;
  constructor(code: string, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'XenError';
    this.code = code;
    this.context = context;
  }
  /** Negative errno when the code is an errno name, else -EINVAL. */
  get errno(): number {
    return isErrnoName(this.code) ? -ERRNO[this.code] : -ERRNO.EINVAL;
  }
}

/** An error from a hypercall or privcmd request, carrying Xen's errno. */
export class HypercallError extends XenError {
  constructor(errno: number, what: string, context: Record<string, unknown> = {}) {
    const name = errnoName(errno);
    super(name, `${what}: ${name}`, { ...context, errno: -Math.abs(errno) });
    this.name = 'HypercallError';
  }
}

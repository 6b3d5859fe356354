// xend's error classes and the XML-RPC fault codes they become
// (XendClient.py / XendError.py): 1 internal, 2 generic, 3 invalid domain.

import { XenError } from '@xenwasm/xen-errno';

export const XEND_FAULT = {
  /** An unexpected exception in xend. */
  INTERNAL: 1,
  /** XendError, VmError, VMBadState. */
  GENERIC: 2,
  /** XendInvalidDomain: the faultString is the domain as given. */
  INVALID_DOMAIN: 3,
} as const;

/** xend's XendError: a fault with code 2 and the message as faultString. */
export class XendError extends XenError {
  readonly faultCode: number = XEND_FAULT.GENERIC;
  constructor(message: string, context: Record<string, unknown> = {}, code = 'XEND_ERROR') {
    super(code, message, context);
    this.name = 'XendError';
  }
}

/** Errors in a domain's configuration or life cycle (VmError). */
export class VmError extends XendError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super(message, context, 'VM_ERROR');
    this.name = 'VmError';
  }
}

/** An operation refused in the domain's current state (VMBadState). */
export class VMBadState extends XendError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super(message, context, 'VM_BAD_STATE');
    this.name = 'VMBadState';
  }
}

/** Errors in xend-config.sxp or a domain config (XendConfigError). */
export class XendConfigError extends XendError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super(message, context, 'XEND_CONFIG');
    this.name = 'XendConfigError';
  }
}

/** No such domain: fault 3 whose faultString is the domain as the caller named it. */
export class XendInvalidDomain extends XendError {
  override readonly faultCode: number = XEND_FAULT.INVALID_DOMAIN;
  readonly domain: string;
  constructor(domain: string | number) {
    super(`Domain '${domain}' does not exist.`, { domain: String(domain) }, 'ESRCH');
    this.name = 'XendInvalidDomain';
    this.domain = String(domain);
  }
}

/** A fault as carried over XML-RPC, in either direction. */
export class XmlRpcFault extends XenError {
  readonly faultCode: number;
  readonly faultString: string;
  constructor(faultCode: number, faultString: string, message = faultString) {
    super(`XMLRPC_FAULT_${faultCode}`, message, { faultCode, faultString });
    this.name = 'XmlRpcFault';
    this.faultCode = faultCode;
    this.faultString = faultString;
  }
}

/** The fault an error thrown by a handler becomes. */
export function errorToFault(e: unknown): { faultCode: number; faultString: string } {
  if (e instanceof XendInvalidDomain) return { faultCode: XEND_FAULT.INVALID_DOMAIN, faultString: e.domain };
  if (e instanceof XendError) return { faultCode: e.faultCode, faultString: e.message };
  if (e instanceof XmlRpcFault) return { faultCode: e.faultCode, faultString: e.faultString };
  const err = e instanceof Error ? e : new Error(String(e));
  return { faultCode: XEND_FAULT.INTERNAL, faultString: `${err.name}: ${err.message}` };
}

/** The error a received fault becomes (the xm side). */
export function faultToError(faultCode: number, faultString: string): XenError {
  if (faultCode === XEND_FAULT.INVALID_DOMAIN) return new XendInvalidDomain(faultString);
  return new XmlRpcFault(faultCode, faultString);
}

// What a backend needs from the dom0 kernel (the hypervisor host process
// provides it: Hypervisor.bindInterdomainLocal / mapGrantLocal).
export interface LocalPort {
  port: number;
  notify(): void;
  close(): void;
}
export interface LocalGrant {
  /** A view of the granted page, straight into the granter's memory (re-fetch after the guest grew). */
  page(): Uint8Array;
  readonly: boolean;
  unmap(): void;
}
/**
 * GNTTABOP_copy for code in this process, one granting domain: each call
 * checks the grant entry as Xen checks a copy's (permit_access, granted to
 * dom0, writable when asked, frame inside the domain) and hands back the
 * bytes straight in the granter's memory. Nothing stays mapped or pinned:
 * copy to or from the view at once, before yielding to the event loop.
 */
export interface GrantCopy {
  /** `len` bytes at `offset` of the page `gref` grants; throws (a HypercallError) when the grant does not allow it. */
  view(gref: number, offset: number, len: number, write: boolean): Uint8Array;
}
export interface Dom0Services {
  bindInterdomainLocal(domid: number, remotePort: number, onEvent: (port: number) => void): LocalPort;
  /** Throws unless `gref` of `domid` is granted to dom0 (and writable when !readonly). */
  mapGrantLocal(domid: number, gref: number, readonly: boolean): LocalGrant;
  /** Grant copies from and to `domid`'s pages (see GrantCopy), for data paths that do not keep pages mapped. */
  grantCopyLocal(domid: number): GrantCopy;
}

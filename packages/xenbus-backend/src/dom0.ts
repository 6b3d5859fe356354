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
export interface Dom0Services {
  bindInterdomainLocal(domid: number, remotePort: number, onEvent: (port: number) => void): LocalPort;
  /** Throws unless `gref` of `domid` is granted to dom0 (and writable when !readonly). */
  mapGrantLocal(domid: number, gref: number, readonly: boolean): LocalGrant;
}

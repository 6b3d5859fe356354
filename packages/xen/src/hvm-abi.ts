// What the host keeps for an HVM domain in every thread's registry entry.
export interface HvmBoot {
  /** The ioreq page shared by the vCPU and its device model (ioreq.ts in @xenwasm/qemu-dm). */
  page: SharedArrayBuffer;
  args: string[];
  env: string[];
  /** stubdom: the device model waits on the page itself; qemu-dm: the host relays. */
  mode: 'stubdom' | 'qemu-dm';
  /** The guest's end of the ioreq event channel (qemu-dm mode). */
  guestPort: number;
}
